/**
 * The audit log, read: who changed what and when, and every refused attempt, newest first, filtered and
 * paginated.
 *
 * How it is written: one way, the API's audit middleware (api/middleware/audit.ts), after every change
 * that succeeded and every refusal of a known identity. It records the caller as the actor (its id, and
 * the key's name or the token's subject as `actor_name`), the route template, the resource acted on and
 * the outcome, with secret-looking body fields redacted. The use cases of targets, prices and API keys
 * (app/targets.ts, app/prices.ts, app/keys.ts) are reached only through REST's mutating routes, so each
 * change they make has its row; they write none themselves, which would record it twice.
 */
import type { AuditEntry, AuditLogRepo, AuditOutcome } from '../adapters/db/repos/audit-log';

export interface AuditDeps {
  repos: { audit: AuditLogRepo };
}

export interface AuditQuery {
  /** The actor's id: `key:<prefix>`, `jwt:<subject>`, `ip:<address>`. */
  actor?: string | undefined;
  /** METHOD and route template, e.g. `PATCH /v1/targets/{target}`. */
  action?: string | undefined;
  /** A path prefix of the resource acted on, e.g. `/v1/targets/support-bot`. */
  resource?: string | undefined;
  outcome?: AuditOutcome | undefined;
  /** ISO times: from `since` (inclusive) to `until` (exclusive). */
  since?: string | undefined;
  until?: string | undefined;
  limit: number;
  /** Keyset: entries with an id below this one. */
  beforeId?: number | undefined;
}

export type AuditService = ReturnType<typeof createAuditService>;

export function createAuditService(deps: AuditDeps) {
  const { audit } = deps.repos;
  return {
    list: (q: AuditQuery): Promise<AuditEntry[]> =>
      audit.list({
        limit: q.limit,
        ...(q.actor ? { actor: q.actor } : {}),
        ...(q.action ? { action: q.action } : {}),
        ...(q.resource ? { resourcePrefix: q.resource } : {}),
        ...(q.outcome ? { outcome: q.outcome } : {}),
        ...(q.since ? { since: q.since } : {}),
        ...(q.until ? { until: q.until } : {}),
        ...(q.beforeId ? { beforeId: q.beforeId } : {}),
      }),
  };
}
