/**
 * `Idempotency-Key` on POSTs that start work (draft-ietf-httpapi-idempotency-key-header): the first
 * response is stored in PostgreSQL and a repeat with the same key and the same request gets it back
 * (`Idempotent-Replayed: true`), on any replica. The same key with a different request is 422; a repeat
 * while the first is still running is 409. A 5xx is not stored, so a retry runs the work again. A claim
 * whose process died mid-request is taken over by a repeat once the request timeout and a margin have
 * passed, instead of answering 409 until the key's retention ends.
 */
import { createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { IdempotencyRepo } from '../../adapters/db/repos/idempotency';
import { problem } from '../lib/problem';
import type { AppBindings } from '../lib/types';

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
const REPLAYED_HEADERS = ['content-type', 'location', 'etag'];

/** The OpenAPI header parameter, a component every operation that honours the header refers to. */
export const IDEMPOTENCY_KEY_PARAMETER = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'Makes this POST safe to retry: the first answer is stored (24 h by default) and a repeat with the same ' +
    'key and the same request returns it with `Idempotent-Replayed: true`, on any replica. The same key ' +
    'with a different method, path or body is 422; a repeat while the first is still running is 409 (once ' +
    'the request timeout and 10 s have passed, a first request that never answered is taken over by the ' +
    'repeat). A 5xx is not stored, so a retry after one runs the work again.',
  schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]{1,255}$' },
  example: '3f2c8a9e-5d1b-4c7a-9e0f-1a2b3c4d5e6f',
} as const;

interface OpenApiDocument {
  paths?: Record<string, Record<string, { parameters?: unknown[]; responses?: Record<string, unknown> }>>;
  components?: { parameters?: Record<string, unknown> };
}

/**
 * Documents Idempotency-Key on exactly the operations the middleware honours it on (the permission
 * table's `startsWork`), so the document and the behaviour cannot drift apart.
 */
export function documentIdempotencyKey<D extends object>(
  document: D,
  startsWork: (method: string, path: string) => boolean,
): D {
  const doc = document as OpenApiDocument;
  const ref = { $ref: '#/components/parameters/IdempotencyKey' };
  let used = false;
  for (const [path, ops] of Object.entries(doc.paths ?? {})) {
    const op = ops.post;
    if (!op || !startsWork('POST', path)) continue;
    used = true;
    op.parameters = [...(op.parameters ?? []), ref];
    op.responses ??= {};
    op.responses['409'] ??= {
      description: 'A request with this Idempotency-Key is still being processed; retry later',
      content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
    };
    op.responses['422'] ??= {
      description: 'Invalid body, or this Idempotency-Key was already used with a different request',
      content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
    };
  }
  if (used) {
    doc.components ??= {};
    doc.components.parameters = { ...doc.components.parameters, IdempotencyKey: IDEMPOTENCY_KEY_PARAMETER };
  }
  return document;
}

/** What a repeat must match: method, path with query, and body. */
export function requestFingerprint(method: string, pathAndQuery: string, body: string): string {
  return createHash('sha256').update(`${method} ${pathAndQuery}\n${body}`).digest('hex');
}

/** Past the request timeout, a claim still unfinished is taken over after this margin (its owner died). */
export const CLAIM_LEASE_MARGIN_MS = 10_000;

export function idempotency(deps: {
  repo: IdempotencyRepo;
  ttlSeconds: number;
  /** The request timeout now (reloadable): a claim lives that long plus CLAIM_LEASE_MARGIN_MS. */
  requestTimeoutMs: () => number;
  startsWork: (method: string, path: string) => boolean;
}): MiddlewareHandler<AppBindings> {
  return async (c, next) => {
    if (c.req.method !== 'POST') return next();
    const key = c.req.header('idempotency-key');
    if (key === undefined || !deps.startsWork(c.req.method, c.req.path)) return next();
    if (!KEY_PATTERN.test(key)) {
      return problem(c, 'bad_request', 'Idempotency-Key must be 1 to 255 visible ASCII characters', {
        errors: [{ path: 'header.idempotency-key', message: 'invalid idempotency key' }],
      });
    }
    const identity = c.get('identity').id;
    const body = await c.req.text();
    const url = new URL(c.req.url);
    const fingerprint = requestFingerprint(c.req.method, `${url.pathname}${url.search}`, body);
    const claim = await deps.repo.claim({
      identity,
      key,
      method: c.req.method,
      path: url.pathname,
      fingerprint,
      ttlSeconds: deps.ttlSeconds,
      leaseSeconds: Math.ceil((deps.requestTimeoutMs() + CLAIM_LEASE_MARGIN_MS) / 1000),
    });
    if (claim.kind !== 'claimed' && claim.fingerprint !== fingerprint) {
      return problem(c, 'validation', 'this Idempotency-Key was already used with a different request', {
        errors: [{ path: 'header.idempotency-key', message: 'reused with a different method, path or body' }],
      });
    }
    if (claim.kind === 'in_progress') {
      return problem(c, 'conflict', 'a request with this Idempotency-Key is still being processed', {
        retry_after: 1,
      });
    }
    if (claim.kind === 'replay') {
      const { status, headers, body: stored } = claim.response;
      return new Response(status === 204 || status === 304 ? null : stored, {
        status,
        headers: { ...headers, 'idempotent-replayed': 'true', 'x-request-id': c.get('requestId') },
      });
    }
    try {
      await next();
    } catch (err) {
      await deps.repo.release(identity, key);
      throw err;
    }
    if (c.res.status >= 500) {
      await deps.repo.release(identity, key);
      return;
    }
    const text = await c.res.clone().text();
    const headers: Record<string, string> = {};
    for (const h of REPLAYED_HEADERS) {
      const v = c.res.headers.get(h);
      if (v !== null) headers[h] = v;
    }
    await deps.repo.complete(identity, key, { status: c.res.status, headers, body: text });
  };
}
