/** The audit log: append-only rows of who changed what, when, and with which outcome. */
import type { Queryable } from '../pool';

export type ActorKind = 'api_key' | 'jwt' | 'anonymous' | 'system';
export type AuditOutcome = 'success' | 'denied' | 'failed';

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  actor_kind: ActorKind;
  roles: string[];
  action: string;
  resource: string;
  outcome: AuditOutcome;
  status: number;
  request_id: string | null;
  details: Record<string, unknown>;
}

export type NewAuditEntry = Omit<AuditEntry, 'id' | 'at'>;

export interface AuditFilter {
  actor?: string;
  action?: string;
  resourcePrefix?: string;
  outcome?: AuditOutcome;
  since?: string;
  until?: string;
  beforeId?: number;
  limit: number;
}

export function createAuditLogRepo(db: Queryable) {
  return {
    async record(e: NewAuditEntry): Promise<void> {
      await db.query(
        `INSERT INTO audit_log (actor, actor_kind, roles, action, resource, outcome, status, request_id, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [
          e.actor,
          e.actor_kind,
          e.roles,
          e.action,
          e.resource,
          e.outcome,
          e.status,
          e.request_id,
          JSON.stringify(e.details),
        ],
      );
    },

    async list(f: AuditFilter): Promise<AuditEntry[]> {
      const r = await db.query<Omit<AuditEntry, 'at'> & { at: Date }>(
        `SELECT * FROM audit_log
          WHERE ($1::text IS NULL OR actor = $1)
            AND ($2::text IS NULL OR action = $2)
            AND ($3::text IS NULL OR starts_with(resource, $3))
            AND ($4::text IS NULL OR outcome = $4)
            AND ($5::timestamptz IS NULL OR at >= $5)
            AND ($6::timestamptz IS NULL OR at < $6)
            AND ($7::bigint IS NULL OR id < $7)
          ORDER BY id DESC LIMIT $8`,
        [
          f.actor ?? null,
          f.action ?? null,
          f.resourcePrefix ?? null,
          f.outcome ?? null,
          f.since ?? null,
          f.until ?? null,
          f.beforeId ?? null,
          f.limit,
        ],
      );
      return r.rows.map((row) => ({ ...row, id: Number(row.id), at: row.at.toISOString() }));
    },
  };
}

export type AuditLogRepo = ReturnType<typeof createAuditLogRepo>;
