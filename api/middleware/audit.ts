/**
 * The audit trail of the REST API: every change (POST, PUT, PATCH, DELETE that succeeded) and every
 * refused attempt by a known identity (403) is recorded with who, what and when. Telemetry ingestion is data, not a
 * change, and is left out. Secret-looking fields of a body are redacted before they are stored.
 */
import type { MiddlewareHandler } from 'hono';
import type { AuditLogRepo, AuditOutcome } from '../../adapters/db/repos/audit-log';
import type { Logger } from '../../platform/logger';
import type { MatchedRule } from '../lib/permissions';
import type { AppBindings } from '../lib/types';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const SECRET_KEY = /secret|token|password|passphrase|api_?key|authorization|credential/i;
const MAX_BODY_CHARS = 16_384;

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 20) return '[nested too deep]';
  if (Array.isArray(value)) return value.slice(0, 100).map((v) => redact(v, depth + 1));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1)]),
    );
  }
  return value;
}

function outcomeOf(status: number): AuditOutcome | undefined {
  if (status < 400) return 'success';
  // 403 only: an unauthenticated caller has no identity worth recording, and logging each 401 would let
  // anyone fill the table.
  if (status === 403) return 'denied';
  if (status >= 500) return 'failed';
  return undefined; // rejected input changed nothing
}

export function audit(deps: {
  repo: AuditLogRepo;
  logger: Logger;
  match: (method: string, path: string) => MatchedRule | undefined;
}): MiddlewareHandler<AppBindings> {
  return async (c, next) => {
    // Reads change nothing: no work after them either.
    if (!MUTATING.has(c.req.method)) return next();
    await next();
    const matched = deps.match(c.req.method, c.req.path);
    // Calls through the gateway are traffic (recorded as llm.request telemetry), not changes.
    if (matched?.rule.access === 'events:ingest' || matched?.rule.access === 'gateway:invoke') return;
    const outcome = outcomeOf(c.res.status);
    if (!outcome) return;
    const identity = c.get('identity');
    let body: unknown;
    if (outcome === 'success' && (c.req.header('content-type') ?? '').includes('json')) {
      try {
        const text = await c.req.text();
        body = text.length <= MAX_BODY_CHARS ? redact(JSON.parse(text)) : `[${text.length} characters]`;
      } catch {
        body = undefined;
      }
    }
    const query = new URL(c.req.url).search;
    try {
      await deps.repo.record({
        actor: identity?.id ?? 'anonymous',
        actor_kind: identity?.kind ?? 'anonymous',
        roles: identity?.roles ?? [],
        action: matched ? `${c.req.method} ${matched.rule.path}` : `${c.req.method} (unlisted route)`,
        // A create acts on the resource it made, so filtering by that resource finds its creation.
        resource:
          (outcome === 'success' &&
            c.res.headers.get('location')?.startsWith('/') &&
            c.res.headers.get('location')) ||
          c.req.path,
        outcome,
        status: c.res.status,
        request_id: c.get('requestId'),
        details: {
          ...(identity && identity.kind !== 'anonymous' ? { actor_name: identity.actor } : {}),
          ...(matched && Object.keys(matched.params).length > 0 ? { params: matched.params } : {}),
          ...(query ? { query } : {}),
          ...(body !== undefined ? { body } : {}),
          ...(c.res.headers.get('location') ? { location: c.res.headers.get('location') } : {}),
          ...(c.res.headers.get('etag') ? { etag: c.res.headers.get('etag') } : {}),
        },
      });
    } catch (err) {
      // The change itself is committed; losing its audit row is reported loudly, not turned into an error.
      deps.logger.error({ err: String(err), path: c.req.path }, 'could not write the audit log');
    }
  };
}
