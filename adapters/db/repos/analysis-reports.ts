/** Analysis reports, one per cycle (idempotent on the cycle id, so a retried activity stores it once). */
import type { Queryable } from '../pool';

export interface StoredReport {
  cycle_id: string;
  target: string;
  segments: string[];
  window_from: string;
  window_to: string;
  report: unknown;
  candidates: unknown;
  created_at: string;
}

interface Row extends Omit<StoredReport, 'window_from' | 'window_to' | 'created_at'> {
  window_from: Date;
  window_to: Date;
  created_at: Date;
}

const toReport = (r: Row): StoredReport => ({
  ...r,
  window_from: r.window_from.toISOString(),
  window_to: r.window_to.toISOString(),
  created_at: r.created_at.toISOString(),
});

export function createAnalysisReportsRepo(db: Queryable) {
  return {
    async upsert(r: Omit<StoredReport, 'created_at'>): Promise<void> {
      await db.query(
        `INSERT INTO analysis_reports (cycle_id, target, segments, window_from, window_to, report, candidates)
         VALUES ($1,$2,$3,$4,$5,$6,$7)
         ON CONFLICT (cycle_id) DO UPDATE SET report = EXCLUDED.report, candidates = EXCLUDED.candidates`,
        [
          r.cycle_id,
          r.target,
          r.segments,
          r.window_from,
          r.window_to,
          JSON.stringify(r.report),
          JSON.stringify(r.candidates),
        ],
      );
    },
    async latest(target: string, cycleId?: string): Promise<StoredReport | null> {
      const r = await db.query<Row>(
        `SELECT * FROM analysis_reports WHERE target = $1 AND ($2::text IS NULL OR cycle_id = $2)
          ORDER BY created_at DESC LIMIT 1`,
        [target, cycleId ?? null],
      );
      return r.rows[0] ? toReport(r.rows[0]) : null;
    },
  };
}
export type AnalysisReportsRepo = ReturnType<typeof createAnalysisReportsRepo>;
