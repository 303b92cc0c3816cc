/**
 * The headers every response carries (secure headers, request id, RateLimit fields), applied once by
 * createApp's outer middleware. A hot handler may instead build its whole response at once with
 * `completeResponse`: one plain header object, which @hono/node-server writes without ever building a
 * Headers or a WHATWG Response, and the outer middleware leaves alone.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'hono';
import type { RateLimitFields } from '../middleware/rate-limit';
import type { AppBindings } from './types';

const REQUEST_ID = /^[\w.-]{1,128}$/;

/** The caller's X-Request-Id when it is a sane token (it reaches logs), else a new UUID. */
export function requestIdOf(incoming: string | undefined): string {
  return incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/**
 * What hono/secure-headers sends by default, with Cross-Origin-Resource-Policy: same-origin, and the
 * request id, as one object literal: V8 makes it from a boilerplate in nanoseconds, where copying a
 * constant object and adding keys to the copy costs microseconds per response.
 */
function secureHeadersWithId(requestId: string): Record<string, string> {
  return {
    'cross-origin-resource-policy': 'same-origin',
    'cross-origin-opener-policy': 'same-origin',
    'origin-agent-cluster': '?1',
    'referrer-policy': 'no-referrer',
    'strict-transport-security': 'max-age=15552000; includeSubDomains',
    'x-content-type-options': 'nosniff',
    'x-dns-prefetch-control': 'off',
    'x-download-options': 'noopen',
    'x-frame-options': 'SAMEORIGIN',
    'x-permitted-cross-domain-policies': 'none',
    'x-xss-protection': '0',
    'x-request-id': requestId,
  };
}

export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze(
  Object.fromEntries(Object.entries(secureHeadersWithId('')).filter(([k]) => k !== 'x-request-id')),
);

/**
 * The same headers as a flat [name, value, ...] list, for node:http's writeHead: what the fast path of
 * api/server.ts sends. Its route's own headers are pushed after these.
 */
export function commonHeaderList(requestId: string, limits: RateLimitFields | undefined): string[] {
  return limits
    ? [
        ...SECURITY_HEADER_LIST,
        'x-request-id',
        requestId,
        'ratelimit-policy',
        limits['ratelimit-policy'],
        'ratelimit',
        limits.ratelimit,
        'ratelimit-limit',
        limits['ratelimit-limit'],
        'ratelimit-remaining',
        limits['ratelimit-remaining'],
        'ratelimit-reset',
        limits['ratelimit-reset'],
      ]
    : [...SECURITY_HEADER_LIST, 'x-request-id', requestId];
}

const SECURITY_HEADER_LIST: readonly string[] = Object.entries(SECURITY_HEADERS).flat();

const COMPLETE = new WeakSet<Response>();

/** Sets the common headers on a response built elsewhere (mutable headers, as every Hono response has). */
export function applyCommonHeaders(c: Context<AppBindings>, res: Response): void {
  if (COMPLETE.has(res)) return;
  const h = res.headers;
  for (const k in SECURITY_HEADERS) h.set(k, SECURITY_HEADERS[k]!);
  h.set('x-request-id', c.get('requestId'));
  const limits = c.get('limitHeaders');
  if (limits) for (const [k, v] of Object.entries(limits)) h.set(k, v);
}

/** A response that already carries every common header, built from one plain object. */
export function completeResponse(
  c: Context<AppBindings>,
  body: string | null,
  status: number,
  headers: Record<string, string>,
): Response {
  const all = secureHeadersWithId(c.get('requestId'));
  const limits = c.get('limitHeaders');
  // Stores by constant names, each one fast; the route's own few headers follow.
  if (limits) {
    all['ratelimit-policy'] = limits['ratelimit-policy'];
    all.ratelimit = limits.ratelimit;
    all['ratelimit-limit'] = limits['ratelimit-limit'];
    all['ratelimit-remaining'] = limits['ratelimit-remaining'];
    all['ratelimit-reset'] = limits['ratelimit-reset'];
  }
  for (const k in headers) all[k] = headers[k]!;
  const res = new Response(body, { status, headers: all });
  COMPLETE.add(res);
  return res;
}
