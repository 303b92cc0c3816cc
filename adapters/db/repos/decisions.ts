/** Decisions: what a cycle decided, why, and what became of it. Inserts are idempotent per cycle. */
import type { Decision, DecisionStatus, ServingChange } from '../../../domain/model';
import { notFound } from '../../../domain/errors';
import type { Db } from '../pool';

export type NewDecision = Omit<Decision, 'created_at' | 'updated_at'>;

interface DecisionRow extends Omit<Decision, 'created_at' | 'updated_at' | 'serving_change'> {
  serving_change: ServingChange | null;
  created_at: Date;
  updated_at: Date;
}

const toDecision = (r: DecisionRow): Decision => ({
  ...r,
  serving_change: r.serving_change ?? null,
  created_at: r.created_at.toISOString(),
  updated_at: r.updated_at.toISOString(),
});

export function createDecisionsRepo(db: Db) {
  return {
    /**
     * Inserts the decision; a retry of the same cycle's insert returns the stored row instead of a
     * duplicate (unique on cycle, segment and strategy).
     */
    async insert(d: NewDecision): Promise<Decision> {
      const r = await db.query<DecisionRow>(
        `INSERT INTO decisions (id, target, segment, strategy, kind, status, from_version, from_weights, to_weights,
           canary_arm, baseline_arm, expected_impact, confidence, safety_checks, rollback_plan, explanation, cycle_id, rollout_id,
           serving_change)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)
         ON CONFLICT DO NOTHING RETURNING *`,
        [
          d.id,
          d.target,
          d.segment,
          d.strategy,
          d.kind,
          d.status,
          d.from_version,
          d.from_weights === null ? null : JSON.stringify(d.from_weights),
          d.to_weights === null ? null : JSON.stringify(d.to_weights),
          d.canary_arm,
          d.baseline_arm,
          JSON.stringify(d.expected_impact),
          d.confidence,
          JSON.stringify(d.safety_checks),
          d.rollback_plan,
          d.explanation,
          d.cycle_id,
          d.rollout_id,
          d.serving_change ? JSON.stringify(d.serving_change) : null,
        ],
      );
      if (r.rows[0]) return toDecision(r.rows[0]);
      const existing = await db.query<DecisionRow>(
        `SELECT * FROM decisions WHERE id = $1
           OR (cycle_id IS NOT NULL AND cycle_id = $2 AND segment = $3 AND strategy = $4) LIMIT 1`,
        [d.id, d.cycle_id, d.segment, d.strategy],
      );
      return toDecision(existing.rows[0]!);
    },

    async get(id: string): Promise<Decision | null> {
      const r = await db.query<DecisionRow>('SELECT * FROM decisions WHERE id = $1', [id]);
      return r.rows[0] ? toDecision(r.rows[0]) : null;
    },

    async require(id: string): Promise<Decision> {
      const d = await this.get(id);
      if (!d) throw notFound(`decision "${id}"`);
      return d;
    },

    async byCycle(cycleId: string): Promise<Decision[]> {
      const r = await db.query<DecisionRow>('SELECT * FROM decisions WHERE cycle_id = $1 ORDER BY segment', [
        cycleId,
      ]);
      return r.rows.map(toDecision);
    },

    async list(filter: {
      target?: string;
      status?: DecisionStatus;
      kind?: string;
      limit: number;
      /** Cursor: created_at and id of the last row of the previous page. */
      before?: { createdAt: string; id: string };
    }): Promise<Decision[]> {
      const r = await db.query<DecisionRow>(
        `SELECT * FROM decisions
          WHERE ($1::text IS NULL OR target = $1) AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR kind = $3)
            AND ($4::timestamptz IS NULL OR (created_at, id) < ($4::timestamptz, $5::uuid))
          ORDER BY created_at DESC, id DESC LIMIT $6`,
        [
          filter.target ?? null,
          filter.status ?? null,
          filter.kind ?? null,
          filter.before?.createdAt ?? null,
          filter.before?.id ?? null,
          filter.limit,
        ],
      );
      return r.rows.map(toDecision);
    },

    async setStatus(id: string, status: DecisionStatus, rolloutId?: string | null): Promise<Decision> {
      const r = await db.query<DecisionRow>(
        `UPDATE decisions SET status = $2, rollout_id = COALESCE($3, rollout_id), updated_at = now()
          WHERE id = $1 RETURNING *`,
        [id, status, rolloutId ?? null],
      );
      if (!r.rows[0]) throw notFound(`decision "${id}"`);
      return toDecision(r.rows[0]);
    },
  };
}

export type DecisionsRepo = ReturnType<typeof createDecisionsRepo>;
