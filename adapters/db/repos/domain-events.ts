import type { DomainEvent } from '../../../domain/domain-events';
import type { Queryable } from '../pool';

const COLUMNS = 'id, type, version, occurred_at, target, segment, summary, data';
const toEvent = (row: DomainEvent & { occurred_at: Date }): DomainEvent => ({
  ...row,
  occurred_at: new Date(row.occurred_at).toISOString(),
});

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
    /** Records that the event's notify run was started (or already existed). */
    async markNotifyStarted(id: string): Promise<void> {
      await db.query(
        `UPDATE domain_events SET notify_started_at = now() WHERE id = $1 AND notify_started_at IS NULL`,
        [id],
      );
    },
    /**
     * Events whose notify run was never recorded as started, stored more than `graceMs` ago (a publish
     * in flight is left alone) and less than `maxAgeMs` ago (nobody wants a week-old page), oldest first.
     */
    async listUnnotified(opts: { graceMs: number; maxAgeMs: number; limit: number }): Promise<DomainEvent[]> {
      const r = await db.query<DomainEvent & { occurred_at: Date }>(
        `SELECT ${COLUMNS} FROM domain_events
          WHERE notify_started_at IS NULL
            AND created_at < now() - make_interval(secs => $1::double precision / 1000)
            AND created_at > now() - make_interval(secs => $2::double precision / 1000)
          ORDER BY created_at LIMIT $3`,
        [opts.graceMs, opts.maxAgeMs, opts.limit],
      );
      return r.rows.map(toEvent);
    },
    async list(filter: { target?: string; type?: string; limit: number }): Promise<DomainEvent[]> {
      const r = await db.query<DomainEvent & { occurred_at: Date }>(
        `SELECT ${COLUMNS} FROM domain_events
          WHERE ($1::text IS NULL OR target = $1) AND ($2::text IS NULL OR type = $2)
          ORDER BY occurred_at DESC LIMIT $3`,
        [filter.target ?? null, filter.type ?? null, filter.limit],
      );
      return r.rows.map(toEvent);
    },
  };
}
export type DomainEventsRepo = ReturnType<typeof createDomainEventsRepo>;
