/**
 * `Idempotency-Key` on POSTs that start work (draft-ietf-httpapi-idempotency-key-header): the first
 * response is stored in PostgreSQL and a repeat with the same key and the same request gets it back
 * (`Idempotent-Replayed: true`), on any replica. The same key with a different request is 422; a repeat
 * while the first is still running is 409. A 5xx is not stored, so a retry runs the work again.
 */
import { createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { IdempotencyRepo } from '../../infra/db/repos/idempotency';
import { problem } from '../lib/problem';
import type { AppBindings } from '../lib/types';

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
const REPLAYED_HEADERS = ['content-type', 'location', 'etag'];

export function idempotency(deps: {
  repo: IdempotencyRepo;
  ttlSeconds: number;
  startsWork: (method: string, path: string) => boolean;
}): MiddlewareHandler<AppBindings> {
  return async (c, next) => {
    const key = c.req.header('idempotency-key');
    if (key === undefined || c.req.method !== 'POST' || !deps.startsWork(c.req.method, c.req.path))
      return next();
    if (!KEY_PATTERN.test(key)) {
      return problem(c, 'bad_request', 'Idempotency-Key must be 1 to 255 visible ASCII characters', {
        errors: [{ path: 'header.idempotency-key', message: 'invalid idempotency key' }],
      });
    }
    const identity = c.get('identity').id;
    const body = await c.req.text();
    const url = new URL(c.req.url);
    const fingerprint = createHash('sha256')
      .update(`${c.req.method} ${url.pathname}${url.search}\n${body}`)
      .digest('hex');
    const claim = await deps.repo.claim({
      identity,
      key,
      method: c.req.method,
      path: url.pathname,
      fingerprint,
      ttlSeconds: deps.ttlSeconds,
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
