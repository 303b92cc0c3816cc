import type { DomainEvent } from '../../../domain/domain-events';
import type { Queryable } from '../pool';

export function createDomainEventsRepo(db: Queryable) {
  return {
    /** Stores the event once; a retried publish returns false and stores nothing twice. */
    async insert(e: DomainEvent): Promise<boolean> {
      const r = await db.query(
        `INSERT INTO domain_events (id, type, version, occurred_at, target, segment, summary, data)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (id) DO NOTHING`,
        [e.id, e.type, e.version, e.occurred_at, e.target, e.segment, e.summary, JSON.stringify(e.data)],
      );
      return (r.rowCount ?? 0) > 0;
    },
    async list(filter: { target?: string; type?: string; limit: number }): Promise<DomainEvent[]> {
      const r = await db.query<DomainEvent & { occurred_at: Date }>(
        `SELECT id, type, version, occurred_at, target, segment, summary, data FROM domain_events
          WHERE ($1::text IS NULL OR target = $1) AND ($2::text IS NULL OR type = $2)
          ORDER BY occurred_at DESC LIMIT $3`,
        [filter.target ?? null, filter.type ?? null, filter.limit],
      );
      return r.rows.map((row) => ({ ...row, occurred_at: new Date(row.occurred_at).toISOString() }));
    },
  };
}
export type DomainEventsRepo = ReturnType<typeof createDomainEventsRepo>;
