/**
 * What the hot read path caches, and how each cache still ends on time, over real PostgreSQL and Redis:
 * verified credentials (an API-key revocation on one replica reaches another within a second through the
 * invalidation bus; a cached token still expires at its exp), leased rate-limit cells (shared by two
 * limiters as by two replicas, within the documented bound), deleted segments and targets dropped from
 * every process's routing-config cache, and Idempotency-Key documented exactly where it is honoured.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { Redis } from 'ioredis';
import { createApp } from '../../api/app';
import { ROUTE_RULES } from '../../api/lib/permissions';
import { SECURITY_HEADERS } from '../../api/lib/headers';
import { createAuthenticator } from '../../api/middleware/auth';
import { createLeasingRateLimiter, leaseSize, renewalPoint } from '../../api/middleware/rate-limit';
import {
  createCachedTargetsRepo,
  createSharedState,
  type RoutingConfigCache,
  type SharedState,
} from '../../adapters/cache';
import { createRedisGcra, type Gcra } from '../../adapters/cache/gcra';
import { createApiKeysRepo } from '../../adapters/db/repos/api-keys';
import { eventually, testEnv, uniqueName } from '../helpers/env';
import { call, startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
let redis: Redis;
const shared: SharedState[] = [];
const arms = [
  { id: 'large', provider: 'openai', model: 'gpt-4o' },
  { id: 'small', provider: 'anthropic', model: 'claude-3-5-haiku' },
];

/** The system's admin key, for apps built here (call() sends it by default only to sys.app). */
const admin = () => ({ auth: sys.adminKey });

/** A replica: its own bus connection to the real Redis, an app over the shared database. */
async function replica() {
  const state = createSharedState(testEnv, sys.deps.logger);
  shared.push(state);
  await state.bus.ready();
  const cached = createCachedTargetsRepo(sys.deps.db, state, { logger: sys.deps.logger });
  const app = createApp({
    ...sys.deps,
    bus: state.bus,
    redis: state.redis!,
    repos: { ...sys.deps.repos, targets: cached.targets },
    caches: { routingConfigs: cached.routingConfigs },
  });
  return { app, cache: cached.routingConfigs };
}

beforeAll(async () => {
  expect(testEnv.REDIS_URL, 'REDIS_URL must point at the test Redis').toBeTruthy();
  sys = await startTestSystem({ workers: false });
  redis = new Redis(testEnv.REDIS_URL!);
});

afterAll(async () => {
  for (const s of shared) await s.close();
  redis?.disconnect();
  await sys?.stop();
});

describe('credential cache', () => {
  it('stops accepting a revoked API key on another replica within a second', async () => {
    const a = await replica();
    const b = await replica();
    const keys = createApiKeysRepo(sys.deps.db);
    const { key, record } = await keys.create({
      name: 'revoked soon',
      roles: ['analyst'],
      createdBy: 'test',
    });
    // B verifies the key and caches it for AUTH_API_KEY_CACHE_MS (5 s by default).
    for (let i = 0; i < 3; i++)
      expect((await call(b, 'GET', '/v1/targets?limit=1', undefined, {}, { auth: key })).status).toBe(200);
    expect((await call(a, 'DELETE', `/v1/api-keys/${record.id}`, undefined, {}, admin())).status).toBe(200);
    const revokedAt = Date.now();
    await eventually(
      async () => (await call(b, 'GET', '/v1/targets?limit=1', undefined, {}, { auth: key })).status === 401,
      { timeoutMs: 1_000, intervalMs: 20, what: 'replica B refusing the revoked key' },
    );
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
    const refused = await call(b, 'GET', '/v1/targets?limit=1', undefined, {}, { auth: key });
    expect(refused.body.detail).toBe('API key has been revoked');
  });

  it('refuses a cached token once it expires', async () => {
    const secret = 'a-test-only-hs256-secret-of-at-least-32-characters';
    const env = {
      ...testEnv,
      AUTH_JWT_HS256_SECRET: secret,
      AUTH_JWT_ISSUER: 'https://issuer.test',
      AUTH_JWT_AUDIENCE: 'llm-auto-optimizer',
      AUTH_JWT_CLOCK_TOLERANCE_S: 0,
      AUTH_API_KEY_CACHE_MS: 60_000,
    };
    const auth = createAuthenticator({
      env,
      apiKeys: createApiKeysRepo(sys.deps.db),
      logger: sys.deps.logger,
    });
    const exp = Math.floor(Date.now() / 1000) + 2;
    const token = await new SignJWT({ roles: ['analyst'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('expiring')
      .setIssuer(env.AUTH_JWT_ISSUER)
      .setAudience(env.AUTH_JWT_AUDIENCE)
      .setExpirationTime(exp)
      .sign(new TextEncoder().encode(secret));
    const first = await auth.authenticate({ authorization: `Bearer ${token}` });
    expect(first?.id).toBe('jwt:expiring');
    // The second answer comes from the cache: the same identity object.
    expect(await auth.authenticate({ authorization: `Bearer ${token}` })).toBe(first);
    await new Promise((r) => setTimeout(r, exp * 1000 - Date.now() + 50));
    await expect(auth.authenticate({ authorization: `Bearer ${token}` })).rejects.toThrow('token expired');
  });
});

describe('leased rate-limit cells', () => {
  /** The real Redis store, counting its round trips. */
  function counted(prefix: string): { store: Gcra; calls: () => number } {
    const real = createRedisGcra(redis, { keyPrefix: prefix });
    let n = 0;
    return {
      store: { take: (key, limit, cost) => (n++, real.take(key, limit, cost)) },
      calls: () => n,
    };
  }

  it('shares one allowance between two replicas within limit ± replicas × lease', async () => {
    const prefix = `${uniqueName('rl')}:`;
    const perMinute = 1_200;
    const lease = leaseSize(perMinute);
    expect(lease).toBe(12);
    const a = counted(prefix);
    const b = counted(prefix);
    const onA = createLeasingRateLimiter(a.store);
    const onB = createLeasingRateLimiter(b.store);
    let served = 0;
    const started = Date.now();
    for (let i = 0; i < 2_000; i++) {
      const d = await (i % 2 === 0 ? onA : onB).consume('caller', perMinute);
      if (!d.allowed) break;
      served++;
      expect(d.remaining).toBeGreaterThanOrEqual(0);
    }
    // GCRA refills perMinute / 60 cells a second while the loop runs.
    const refilled = Math.ceil(((Date.now() - started) / 60_000) * perMinute);
    expect(served).toBeGreaterThanOrEqual(perMinute - 2 * lease);
    expect(served).toBeLessThanOrEqual(perMinute + refilled + 2 * lease);
    // A lease per `lease` requests, not a round trip per request; near the end (fewer than a lease left,
    // and what GCRA refilled meanwhile) each cell costs a refused lease and a single take.
    expect(a.calls() + b.calls()).toBeLessThanOrEqual(served / lease + 2 * (lease + refilled) + 4);
    // Spent everywhere: past the cells it may still hold from its last lease (fewer than one lease), each
    // replica refuses too, with a Retry-After.
    for (const l of [onA, onB]) {
      let held = 0;
      let d = await l.consume('caller', perMinute);
      while (d.allowed && held < 2 * lease) {
        held++;
        d = await l.consume('caller', perMinute);
      }
      expect(held).toBeLessThan(lease + 2);
      expect(d.allowed).toBe(false);
      expect(d.retryAfterSeconds).toBeGreaterThan(0);
      expect(d.remaining).toBe(0);
    }
  });

  it('serves concurrent requests from one lease request at a time', async () => {
    const { store, calls } = counted(`${uniqueName('rl')}:`);
    const limiter = createLeasingRateLimiter(store);
    const decisions = await Promise.all(Array.from({ length: 50 }, () => limiter.consume('c', 6_000)));
    expect(decisions.every((d) => d.allowed)).toBe(true);
    // The first lease (60 cells), and the next one asked for once 15 were left: never two at once.
    expect(leaseSize(6_000)).toBe(60);
    expect(renewalPoint(6_000)).toBe(15);
    expect(calls()).toBe(2);
  });

  it('asks for the next lease ahead of need, so a steady caller never waits for the shared store', async () => {
    const { store, calls } = counted(`${uniqueName('rl')}:`);
    const limiter = createLeasingRateLimiter(store);
    await limiter.consume('c', 6_000);
    let waited = 0;
    for (let i = 0; i < 300; i++) {
      if (!limiter.takeLocal('c', 6_000)) {
        waited++;
        expect((await limiter.consume('c', 6_000)).allowed).toBe(true);
      }
      // A caller at 1,000 requests a second: the renewal's round trip ends within the 15 cells left.
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(waited).toBe(0);
    // One lease per 60 cells, each asked for once: 301 cells took 6 leases.
    expect(calls()).toBe(Math.ceil(301 / 60));
  });

  it('stays exact, one round trip per request, for small limits', async () => {
    const { store, calls } = counted(`${uniqueName('rl')}:`);
    const limiter = createLeasingRateLimiter(store);
    const allowed = [];
    for (let i = 0; i < 5; i++) allowed.push((await limiter.consume('c', 3)).allowed);
    expect(allowed).toEqual([true, true, true, false, false]);
    expect(calls()).toBe(5);
  });
});

describe('the cached config route', () => {
  it('answers 200 and 304 with every common header and the config version as ETag', async () => {
    const { app } = await replica();
    const name = uniqueName('hot');
    expect((await call({ app }, 'POST', '/v1/targets', { name, arms }, {}, admin())).status).toBe(201);
    const key = await sys.keyFor('ingest');
    const first = await call({ app }, 'GET', `/v1/targets/${name}/config`, undefined, {}, { auth: key });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ target: name, segment: 'default', version: 1 });
    expect(first.headers.get('etag')).toMatch(/^"v1\.[\w-]{22}"$/);
    expect(first.headers.get('content-type')).toBe('application/json');
    expect(first.headers.get('x-request-id')).toBeTruthy();
    expect(first.headers.get('ratelimit-limit')).toBe(String(testEnv.API_RATE_LIMIT_PER_MINUTE));
    for (const [h, v] of Object.entries(SECURITY_HEADERS)) expect(first.headers.get(h), h).toBe(v);
    const again = await call(
      { app },
      'GET',
      `/v1/targets/${name}/config`,
      undefined,
      { 'if-none-match': first.headers.get('etag')!, 'x-request-id': 'poll-2' },
      { auth: key },
    );
    expect(again.status).toBe(304);
    expect(again.headers.get('x-request-id')).toBe('poll-2');
    expect(again.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('answers 400 naming the field for a bad target or segment, also once valid pairs are remembered', async () => {
    const name = uniqueName('hot');
    expect((await call(sys, 'POST', '/v1/targets', { name, arms })).status).toBe(201);
    const key = await sys.keyFor('ingest');
    const get = (path: string) => call(sys, 'GET', path, undefined, {}, { auth: key });
    for (let i = 0; i < 2; i++) {
      expect((await get(`/v1/targets/${name}/config?segment=default`)).status).toBe(200);
      expect((await get(`/v1/targets/${name}/config`)).status).toBe(200);
      const badSegment = await get(`/v1/targets/${name}/config?segment=Not%20A%20Slug`);
      expect(badSegment.status).toBe(400);
      expect(badSegment.headers.get('content-type')).toBe('application/problem+json');
      expect(badSegment.body).toMatchObject({ errors: [{ path: 'query.segment' }] });
      const repeated = await get(`/v1/targets/${name}/config?segment=default&segment=default`);
      expect(repeated.status).toBe(400);
      expect(repeated.body).toMatchObject({ errors: [{ path: 'query.segment' }] });
      const badTarget = await get(`/v1/targets/${'x'.repeat(64)}/config?segment=default`);
      expect(badTarget.status).toBe(400);
      expect(badTarget.body).toMatchObject({ errors: [{ path: 'param.target' }] });
      expect((await get(`/v1/targets/${name}/config?segment=absent`)).status).toBe(404);
    }
  });
});

/** The config of target/segment is gone from `cache` (another process's) within a second. */
async function leavesWithinASecond(cache: RoutingConfigCache, target: string, segment: string) {
  const from = Date.now();
  await eventually(async () => (await cache.get(target, segment)) === null, {
    timeoutMs: 1_000,
    intervalMs: 10,
    what: `${target}/${segment} leaving the other process's cache`,
  });
  expect(Date.now() - from).toBeLessThan(1_000);
}

describe('deleting segments and targets', () => {
  it("drops the deleted configs from every process's cache within a second", async () => {
    const a = await replica();
    const b = await replica();
    const name = uniqueName('del');
    expect(
      (await call(a, 'POST', '/v1/targets', { name, arms, segments: ['default', 'short'] }, {}, admin()))
        .status,
    ).toBe(201);
    // Both processes hold both configs in memory (first tier) and Redis holds them (second tier).
    for (const { cache } of [a, b])
      for (const s of ['default', 'short']) expect((await cache.get(name, s))?.version).toBe(1);

    expect(
      (await call(a, 'DELETE', `/v1/targets/${name}/segments/short`, undefined, {}, admin())).status,
    ).toBe(204);
    await leavesWithinASecond(b.cache, name, 'short');
    expect(await redis.exists(`llmopt:cache:routing-config:${name}/short`)).toBe(0);
    expect(
      (await call(b, 'GET', `/v1/targets/${name}/config?segment=short`, undefined, {}, admin())).status,
    ).toBe(404);
    expect((await b.cache.get(name, 'default'))?.version).toBe(1);

    expect((await call(a, 'DELETE', `/v1/targets/${name}`, undefined, {}, admin())).status).toBe(204);
    await leavesWithinASecond(b.cache, name, 'default');
    expect((await call(b, 'GET', `/v1/targets/${name}/config`, undefined, {}, admin())).status).toBe(404);
  });
});

describe('Idempotency-Key', () => {
  it('is documented on exactly the POSTs that honour it', async () => {
    const doc = await call(sys, 'GET', '/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.body.components.parameters.IdempotencyKey).toMatchObject({
      name: 'Idempotency-Key',
      in: 'header',
    });
    const documented: string[] = [];
    for (const [path, ops] of Object.entries(
      doc.body.paths as Record<string, Record<string, { parameters?: { $ref?: string }[] }>>,
    )) {
      for (const [method, op] of Object.entries(ops))
        if (op.parameters?.some((p) => p.$ref === '#/components/parameters/IdempotencyKey'))
          documented.push(`${method.toUpperCase()} ${path}`);
    }
    const honoured = ROUTE_RULES.filter((r) => r.startsWork).map((r) => `${r.method} ${r.path}`);
    expect(documented.sort()).toEqual(honoured.sort());
    for (const route of [
      'POST /v1/decisions/{id}/approve',
      'POST /v1/decisions/{id}/reject',
      'POST /v1/optimizations',
      'POST /v1/rollouts/{id}/pause',
      'POST /v1/rollouts/{id}/resume',
      'POST /v1/rollouts/{id}/abort',
      'POST /v1/rollouts/{id}/approve',
      'POST /v1/webhooks/{id}/deliveries/{delivery}/redeliver',
      'POST /v1/targets',
      'POST /v1/targets/{target}/segments',
      'POST /v1/targets/{target}/arms',
    ])
      expect(documented).toContain(route);
    // Answers that carry a secret shown once are never stored for a replay.
    expect(documented).not.toContain('POST /v1/api-keys');
    expect(documented).not.toContain('POST /v1/webhooks');
    expect(documented).not.toContain('POST /v1/webhooks/{id}/rotate-secret');
  });

  it('replays the first answer of a documented route other than target creation', async () => {
    const name = uniqueName('idem');
    expect((await call(sys, 'POST', '/v1/targets', { name, arms })).status).toBe(201);
    const key = uniqueName('k');
    const body = { name: 'summarize' };
    const first = await call(sys, 'POST', `/v1/targets/${name}/segments`, body, {
      'idempotency-key': key,
    });
    expect(first.status).toBe(201);
    const again = await call(sys, 'POST', `/v1/targets/${name}/segments`, body, {
      'idempotency-key': key,
    });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    // Without the key the same request is a conflict: the replay above did not run the work again.
    expect((await call(sys, 'POST', `/v1/targets/${name}/segments`, body)).status).toBe(409);
  });
});
