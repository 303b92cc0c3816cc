/**
 * The headers every response carries (secure headers, request id, RateLimit fields), applied once by
 * createApp's outer middleware. A hot handler may instead build its whole response at once with
 * `completeResponse`: one plain header object, which @hono/node-server writes without ever building a
 * Headers or a WHATWG Response, and the outer middleware leaves alone.
 */
import type { Context } from 'hono';
import type { AppBindings } from './types';

/** What hono/secure-headers sends by default, with Cross-Origin-Resource-Policy: same-origin. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
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
});

const COMPLETE = new WeakSet<Response>();

/** Sets the common headers on a response built elsewhere (mutable headers, as every Hono response has). */
export function applyCommonHeaders(c: Context<AppBindings>, res: Response): void {
  if (COMPLETE.has(res)) return;
  const h = res.headers;
  for (const k in SECURITY_HEADERS) h.set(k, SECURITY_HEADERS[k]!);
  h.set('x-request-id', c.get('requestId'));
  const limits = c.get('limitHeaders');
  if (limits) for (const k in limits) h.set(k, limits[k]!);
}

/** A response that already carries every common header, built from one plain object. */
export function completeResponse(
  c: Context<AppBindings>,
  body: string | null,
  status: number,
  headers: Record<string, string>,
): Response {
  const all: Record<string, string> = { ...SECURITY_HEADERS, ...headers };
  all['x-request-id'] = c.get('requestId');
  const limits = c.get('limitHeaders');
  if (limits) Object.assign(all, limits);
  const res = new Response(body, { status, headers: all });
  COMPLETE.add(res);
  return res;
}
