/**
 * The REST API's guard, installed by createApp before any router: CORS from an allow-list, then per
 * request: find the route's rule in the permission table, authenticate, rate-limit per identity (client
 * address when anonymous), authorize, audit changes, and honour Idempotency-Key. Order matters: a
 * refused caller still spends its allowance, and an audit row exists for every refusal.
 */
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { AppError } from '../../domain/errors';
import { FLUSH_ALL_NS } from '../../adapters/cache/bus';
import { createRuleMatcher, rolesGrant, type Identity, type MatchedRule } from '../lib/permissions';
import { problem } from '../lib/problem';
import type { ApiDeps, AppBindings, AppRouter, SecurityRepos } from '../lib/types';
import { audit } from './audit';
import { createAuthenticator, type Authenticator } from './auth';
import { idempotency } from './idempotency';
import {
  createMemoryRateLimiter,
  createRedisRateLimiter,
  rateLimitHeaders,
  type RateLimitFields,
  type RateLimiter,
} from './rate-limit';

export type { SecurityRepos };

export interface Security {
  repos: SecurityRepos;
  authenticator: Authenticator;
  limiter: RateLimiter;
  match: (method: string, path: string) => MatchedRule | undefined;
  /**
   * An API key whose prefix this process has not seen lately costs a database query: each peer gets the
   * anonymous allowance of those, spent before the query (`beforeLookup` of `authenticate`), so guessed
   * prefixes are refused with 429 without one. REST passes the client address; gRPC can pass the peer.
   */
  spendLookup(address: string): Promise<void>;
  /**
   * An API key was revoked or created: every replica drops what it cached of that prefix (through the
   * invalidation bus, within milliseconds), this one at once.
   */
  announceKeyChange(prefix: string): Promise<void>;
}

/** Invalidation-bus namespace of API-key changes; the message key is the key's prefix. */
export const API_KEY_NS = 'api-key';

const ANONYMOUS_ROLES: Identity['roles'] = [];
const EXEMPT_FROM_LIMITS = new Set(['/healthz', '/readyz']);

/**
 * Anonymous callers are limited per address and per route family: the signed inbound routes each have
 * their own bucket, so a flood of unsigned Slack commands from one address (or from behind one proxy)
 * cannot spend the allowance GitHub deliveries need, nor the other way round.
 */
const ANONYMOUS_FAMILIES: readonly (readonly [prefix: string, family: string])[] = [
  ['/v1/slack/', 'slack'],
  ['/v1/github/', 'github'],
];
function anonymousBucket(path: string, address: string): string {
  for (const [prefix, family] of ANONYMOUS_FAMILIES)
    if (path.startsWith(prefix)) return `${family}:ip:${address}`;
  return `ip:${address}`;
}

/** Builds the security services over the app's dependencies; the gRPC server shares them. */
export function createSecurity(deps: ApiDeps): Security {
  const repos: SecurityRepos = {
    apiKeys: deps.security?.apiKeys ?? deps.repos.apiKeys,
    audit: deps.security?.audit ?? deps.repos.audit,
    idempotency: deps.security?.idempotency ?? deps.repos.idempotency,
  };
  const authenticator = createAuthenticator({ env: deps.env, apiKeys: repos.apiKeys, logger: deps.logger });
  const { bus } = deps;
  bus?.subscribe(API_KEY_NS, (m) => authenticator.forget(m.key));
  bus?.subscribe(FLUSH_ALL_NS, () => authenticator.forgetAll());
  const limiter = deps.redis ? createRedisRateLimiter(deps.redis, deps.logger) : createMemoryRateLimiter();
  return {
    repos,
    authenticator,
    limiter,
    match: memoized(createRuleMatcher()),
    async spendLookup(address) {
      const perMinute = deps.env.API_RATE_LIMIT_ANONYMOUS_PER_MINUTE;
      if (perMinute <= 0) return;
      const decision = await limiter.consume(`lookup:ip:${address}`, perMinute);
      if (!decision.allowed)
        throw new AppError(
          'rate_limited',
          `more than ${perMinute} unknown API keys a minute from this address`,
          {
            retryAfterSeconds: decision.retryAfterSeconds,
          },
        );
    },
    async announceKeyChange(prefix) {
      authenticator.forget(prefix);
      await bus?.publish({ ns: API_KEY_NS, key: prefix });
    },
  };
}

/** The permission lookup once per distinct request line; bounded, as paths come from callers. */
function memoized(
  match: (method: string, path: string) => MatchedRule | undefined,
  max = 10_000,
): (method: string, path: string) => MatchedRule | undefined {
  const seen = new Map<string, MatchedRule | undefined>();
  return (method, path) => {
    const key = `${method} ${path}`;
    if (seen.has(key)) return seen.get(key);
    const found = match(method, path);
    if (seen.size >= max) seen.clear();
    seen.set(key, found);
    return found;
  };
}

/**
 * The caller's address. Behind `trustedHops` proxies (API_TRUST_PROXY) it is the entry of
 * X-Forwarded-For that the outermost trusted proxy appended: each proxy appends the address it was
 * called from, so that is the `trustedHops`-th entry from the right. Entries to its left came from the
 * caller and prove nothing (a client can send any X-Forwarded-For it likes).
 */
export function clientAddress(c: Context, trustedHops: number): string {
  if (trustedHops > 0) {
    const entries = (c.req.header('x-forwarded-for') ?? '')
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean);
    // Fewer entries than hops: every one of them was appended by a trusted proxy; the leftmost is nearest the caller.
    const forwarded = entries[Math.max(0, entries.length - trustedHops)];
    if (forwarded) return forwarded;
  }
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'local'; // app.request() in tests has no socket
  }
}

/** Hono's own route table, to tell "no such route" (404) from "route missing from the permission table". */
function routeExistence(app: AppRouter): (method: string, path: string) => boolean {
  let compiled: { method: string; regex: RegExp }[] | undefined;
  return (method, path) => {
    compiled ??= app.routes
      .filter((r) => r.method !== 'ALL' && !r.path.includes('*'))
      .map((r) => ({
        method: r.method,
        regex: new RegExp(
          `^${r.path
            .split('/')
            .map((s) => (s.startsWith(':') ? '[^/]+' : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
            .join('/')}$`,
        ),
      }));
    return compiled.some(
      (r) => (r.method === method || (method === 'HEAD' && r.method === 'GET')) && r.regex.test(path),
    );
  };
}

/** A refusal carries the RateLimit fields of its decision too. */
function withHeaders(res: Response, headers: Partial<RateLimitFields>): Response {
  for (const [k, v] of Object.entries(headers)) res.headers.set(k, v);
  return res;
}

function guard(app: AppRouter, deps: ApiDeps, security: Security): MiddlewareHandler<AppBindings> {
  const { env } = deps;
  const exists = routeExistence(app);
  return async (c, next) => {
    const matched = security.match(c.req.method, c.req.path);
    const access = matched?.rule.access;
    const isPublic =
      access === 'public' ||
      (access === 'system:docs' && env.API_PUBLIC_DOCS) ||
      (access === 'system:metrics' && env.API_PUBLIC_METRICS);
    let identity: Identity | undefined;
    let failure: AppError | undefined;
    if (!isPublic) {
      try {
        identity = await security.authenticator.authenticate(
          { authorization: c.req.header('authorization'), apiKey: c.req.header('x-api-key') },
          { beforeLookup: () => security.spendLookup(clientAddress(c, env.API_TRUST_PROXY)) },
        );
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        failure = err;
      }
    }
    // The client address matters only to anonymous callers (their identity and limit key).
    const address = identity ? undefined : clientAddress(c, env.API_TRUST_PROXY);
    const caller: Identity = identity ?? {
      kind: 'anonymous',
      id: anonymousBucket(c.req.path, address!),
      actor: address!,
      roles: ANONYMOUS_ROLES,
    };
    c.set('identity', caller);

    const perMinute = identity ? env.API_RATE_LIMIT_PER_MINUTE : env.API_RATE_LIMIT_ANONYMOUS_PER_MINUTE;
    let limitHeaders: Partial<RateLimitFields> = {};
    if (perMinute > 0 && !EXEMPT_FROM_LIMITS.has(c.req.path)) {
      const decision = await security.limiter.consume(caller.id, perMinute);
      const fields = rateLimitHeaders(decision);
      limitHeaders = fields;
      // Added to whatever answers below by createApp's outer middleware, with the other common headers.
      c.set('limitHeaders', fields);
      if (!decision.allowed) {
        const res = problem(c, 'rate_limited', `rate limit of ${perMinute} requests per minute exceeded`, {
          retry_after: decision.retryAfterSeconds,
        });
        return withHeaders(res, limitHeaders);
      }
    }

    if (failure?.type === 'unauthorized' || (!isPublic && !identity)) {
      const res = problem(
        c,
        'unauthorized',
        failure?.message ?? 'credentials required: send "Authorization: Bearer <API key or token>"',
      );
      res.headers.set(
        'www-authenticate',
        `Bearer realm="llm-auto-optimizer"${failure ? ', error="invalid_token"' : ''}`,
      );
      return withHeaders(res, limitHeaders);
    }
    if (failure)
      return withHeaders(
        problem(
          c,
          failure.type,
          failure.message,
          failure.details.retryAfterSeconds ? { retry_after: failure.details.retryAfterSeconds } : {},
        ),
        limitHeaders,
      );
    if (!isPublic) {
      if (!matched) {
        if (!exists(c.req.method, c.req.path))
          return withHeaders(
            problem(c, 'not_found', `no route for ${c.req.method} ${c.req.path}`),
            limitHeaders,
          );
        deps.logger.error(
          { method: c.req.method, path: c.req.path },
          'route is missing from the permission table (api/lib/permissions.ts); denied',
        );
        return withHeaders(
          problem(
            c,
            'forbidden',
            'this route has no entry in the permission table and is denied to everyone',
          ),
          limitHeaders,
        );
      }
      const permission = matched.rule.access as Exclude<
        typeof access,
        'public' | 'authenticated' | undefined
      >;
      if (matched.rule.access !== 'authenticated' && !rolesGrant(identity!.roles, permission)) {
        const roles = identity!.roles.length > 0 ? identity!.roles.join(', ') : 'no role';
        return withHeaders(
          problem(c, 'forbidden', `${roles} lacks the permission "${permission}"`, {
            required_permission: permission,
          }),
          limitHeaders,
        );
      }
    }
    await next();
  };
}

/**
 * Installs CORS and the guard, audit and idempotency middleware; returns the services, which createApp
 * hands to the routers, the config read's fast path and the gRPC server.
 */
export function installSecurity(app: AppRouter, deps: ApiDeps): Security {
  const security = createSecurity(deps);
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key (llmo_...) or a JWT (HS256, or RS256/ES256 from the configured JWKS)',
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKeyHeader', {
    type: 'apiKey',
    in: 'header',
    name: 'x-api-key',
  });
  const origins = (deps.env.API_CORS_ORIGINS ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  if (origins.length > 0) {
    app.use(
      '*',
      cors({
        origin: (origin) => (origins.includes(origin) ? origin : null),
        allowMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
        allowHeaders: [
          'authorization',
          'content-type',
          'if-match',
          'if-none-match',
          'idempotency-key',
          'x-api-key',
          'x-request-id',
        ],
        exposeHeaders: [
          'etag',
          'location',
          'retry-after',
          'ratelimit',
          'ratelimit-policy',
          'ratelimit-limit',
          'ratelimit-remaining',
          'ratelimit-reset',
          'x-request-id',
          'idempotent-replayed',
        ],
        maxAge: 600,
      }),
    );
  }
  app.use('*', audit({ repo: security.repos.audit, logger: deps.logger, match: security.match }));
  app.use('*', guard(app, deps, security));
  app.use(
    '*',
    idempotency({
      repo: security.repos.idempotency,
      ttlSeconds: deps.env.API_IDEMPOTENCY_TTL_S,
      requestTimeoutMs: () => deps.env.API_REQUEST_TIMEOUT_MS,
      startsWork: (method, path) => security.match(method, path)?.rule.startsWork === true,
    }),
  );
  return security;
}
