/**
 * One rule for every string the admin API is sent: a string either cannot be stored and read back
 * exactly, and is refused at the boundary with 422 naming the field, or it is stored exactly as sent.
 * Two kinds cannot: U+0000 (PostgreSQL text and jsonb hold no NUL) and lone UTF-16 surrogates (they have
 * no UTF-8 form, so the driver would store U+FFFD instead). Everything else -- other control characters,
 * non-characters such as U+FFFF, any length a field's own schema allows -- is kept as sent; nothing is
 * normalized. The rule covers JSON request bodies (values and property names), the query string and the
 * path. The telemetry ingest routes have their own validators on their hot path and are left alone, as
 * are the signed Slack and GitHub routes, whose bodies are their senders' formats and are not stored.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { formatPath, type FieldIssue } from '../../domain/errors';
import { problem } from '../lib/problem';
import type { AppBindings } from '../lib/types';

const EXEMPT_PREFIXES = ['/v1/events', '/v1/traces', '/v1/slack/', '/v1/github/'];
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;
/** Deeper bodies are refused by the routes' schemas; the walk stops here rather than recurse without end. */
const MAX_DEPTH = 64;
/** In unicode mode a surrogate class matches only a surrogate that is not half of a pair. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Why `s` cannot be stored exactly, or undefined when it can. */
export function unstorable(s: string): string | undefined {
  if (s.includes('\0')) return 'contains U+0000 (NUL), which cannot be stored';
  if (LONE_SURROGATE.test(s)) return 'contains a lone UTF-16 surrogate, which has no UTF-8 form';
  return undefined;
}

/** The first string (value or property name) in `value` that cannot be stored, with its JSON path. */
export function firstUnstorable(value: unknown, path: (string | number)[] = []): FieldIssue | undefined {
  if (typeof value === 'string') {
    const why = unstorable(value);
    return why ? { path: formatPath(path), message: why } : undefined;
  }
  if (typeof value !== 'object' || value === null || path.length > MAX_DEPTH) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = firstUnstorable(value[i], [...path, i]);
      if (found) return found;
    }
    return undefined;
  }
  for (const [k, v] of Object.entries(value)) {
    const why = unstorable(k);
    if (why) return { path: formatPath([...path, k]), message: `property name ${why}` };
    const found = firstUnstorable(v, [...path, k]);
    if (found) return found;
  }
  return undefined;
}

function urlIssue(url: string): FieldIssue | undefined {
  // NUL arrives percent-encoded; invalid UTF-8 percent-encodings are never decoded into lone surrogates
  // (the path keeps them as sent, URLSearchParams decodes them to U+FFFD), so only a query can carry one.
  if (!url.includes('%')) return undefined;
  const parsed = new URL(url);
  if (/%00/.test(parsed.pathname)) return { path: 'path', message: unstorable('\0')! };
  for (const [name, value] of parsed.searchParams) {
    const why = unstorable(name) ?? unstorable(value);
    if (why) return { path: `query.${name.replace(/[\0\uD800-\uDFFF]/g, '\uFFFD')}`, message: why };
  }
  return undefined;
}

const refuse = (c: Context, issue: FieldIssue) =>
  problem(c, 'validation', `${issue.path}: ${issue.message}`, { errors: [issue] });

/**
 * The rule for the path and the query, before authentication and routing: a path is matched against
 * the permission table, and a NUL in it must be answered as such rather than as an unknown route.
 */
export function storableUrl(): MiddlewareHandler<AppBindings> {
  return async (c, next) => {
    if (EXEMPT_PREFIXES.some((p) => c.req.path.startsWith(p))) return next();
    const issue = urlIssue(c.req.url);
    return issue ? refuse(c, issue) : next();
  };
}

/** The rule for a JSON body, once the caller is authenticated and allowed (the body is parsed for it). */
export function storableBody(): MiddlewareHandler<AppBindings> {
  return async (c, next) => {
    if (EXEMPT_PREFIXES.some((p) => c.req.path.startsWith(p))) return next();
    const mediaType = c.req.header('content-type')?.split(';')[0]?.trim();
    if (!mediaType || !JSON_MEDIA_TYPE.test(mediaType) || c.req.raw.body === null) return next();
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return next(); // not JSON: the route's validator answers it
    }
    const issue = firstUnstorable(body);
    return issue ? refuse(c, issue) : next();
  };
}
