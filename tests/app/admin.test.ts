/**
 * Administration over the real services: the operator's figures count what was stored, a cache flush
 * asked of one API replica empties the caches of another that shares only the invalidation bus (two
 * containers over a private Redis, so no other test's caches are flushed), and both are an admin's alone.
 * GET /v1/me tells every authenticated caller who it is and what it may do.
 */
// The app (and with it @hono/zod-openapi) loads before any other zod schema is built.
import { call, startTestSystem, type TestSystem } from '../helpers/system';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routingConfigKey } from '../../adapters/cache/routing-configs';
import { ROLE_PERMISSIONS, ROLES, type Role } from '../../api/lib/permissions';
import { eventually, uniqueName } from '../helpers/env';
import { startPrivateRedis, type PrivateService } from '../helpers/private-services';

let redis: PrivateService & { url: string };
/** Two API replicas: separate containers (pools, caches, buses) over the same database and Redis. */
let a: TestSystem;
let b: TestSystem;
const keys = {} as Record<Role, string>;

beforeAll(async () => {
  redis = await startPrivateRedis();
  a = await startTestSystem({ workers: false, cache: true, env: { REDIS_URL: redis.url } });
  b = await startTestSystem({ workers: false, cache: true, env: { REDIS_URL: redis.url } });
  for (const role of ROLES) keys[role] = await a.keyFor(role);
}, 120_000);
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await redis?.destroy();
});

const arms = [{ id: 'big', provider: 'openai', model: 'gpt-4o' }];

describe('GET /v1/admin/stats', () => {
  it("counts today's events, open work and dead letters with cheap queries", async () => {
    const target = uniqueName('admin-stats');
    expect((await call(a, 'POST', '/v1/targets', { name: target, arms })).status).toBe(201);
    const before = await call(a, 'GET', '/v1/admin/stats');
    expect(before.status).toBe(200);
    // A window of 7 requests stored now, as a shard of the pipeline writes it.
    await a.deps.db.query(
      `INSERT INTO window_aggregates (target, segment, arm, window_start, window_end, shard, count, ok)
       VALUES ($1, 'default', 'big', now(), now() + interval '1 minute', 'admin-test', 7, 7)`,
      [target],
    );
    try {
      const after = await call(a, 'GET', '/v1/admin/stats');
      expect(after.status).toBe(200);
      expect(after.body.targets).toBeGreaterThanOrEqual(1);
      expect(after.body.events.today - before.body.events.today).toBeGreaterThanOrEqual(7);
      expect(after.body.events.last_hour - before.body.events.last_hour).toBeGreaterThanOrEqual(7);
      expect(after.body.events.per_second_last_hour).toBeGreaterThan(0);
      for (const field of ['open_rollouts', 'awaiting_decisions'])
        expect(Number.isInteger(after.body[field])).toBe(true);
      expect(after.body.dead_letters).toEqual({
        ingest: expect.any(Number) as number,
        webhooks: expect.any(Number) as number,
      });
      // The shared Temporal dev server answers visibility: the backlog is a count, not null.
      expect(Number.isInteger(after.body.cycle_backlog)).toBe(true);
    } finally {
      await a.deps.db.query(`DELETE FROM window_aggregates WHERE target = $1`, [target]);
    }
  });
});

describe('POST /v1/admin/cache/flush', () => {
  it('empties the cache of the other replica, which hears it on the bus', async () => {
    const target = uniqueName('admin-flush');
    expect((await call(a, 'POST', '/v1/targets', { name: target, arms })).status).toBe(201);
    // Replica B serves the config and keeps it in memory and in Redis.
    expect((await call(b, 'GET', `/v1/targets/${target}/config`)).status).toBe(200);
    const key = routingConfigKey(target, 'default');
    const cachedInB = () => b.deps.caches.routingConfigs!.peek(key);
    expect(cachedInB()).toBeDefined();
    const client = b.deps.redis!;
    expect(await client.exists(`llmopt:cache:routing-config:${key}`)).toBe(1);
    // B verified the key it was called with and keeps it verified for AUTH_API_KEY_CACHE_MS.
    const credential = { authorization: `Bearer ${b.adminKey}` };
    const verifiedInB = () => b.app.security.authenticator.known(credential);
    expect(verifiedInB()).toBeDefined();

    // The flush is asked of replica A.
    const flushed = await call(a, 'POST', '/v1/admin/cache/flush');
    expect(flushed.status).toBe(200);
    expect(flushed.body.scope).toBe('every_process');
    expect(flushed.body.second_tier_keys).toBeGreaterThanOrEqual(1);
    expect(await client.exists(`llmopt:cache:routing-config:${key}`)).toBe(0);
    await eventually(async () => cachedInB() === undefined, { what: 'replica B dropping its cached config' });
    expect(verifiedInB()).toBeUndefined();

    // B still answers, from PostgreSQL, and caches again.
    expect((await call(b, 'GET', `/v1/targets/${target}/config`)).status).toBe(200);
    expect(cachedInB()).toBeDefined();
  });

  it('is recorded in the audit log with the admin who asked', async () => {
    const r = await call(a, 'GET', '/v1/audit?action=POST%20%2Fv1%2Fadmin%2Fcache%2Fflush');
    expect(r.status).toBe(200);
    expect(r.body.items.length).toBeGreaterThanOrEqual(1);
  });
});

describe('administration is for admins only', () => {
  it.each(['operator', 'analyst', 'ingest'] as const)(
    'refuses %s with 403 naming system:admin',
    async (role) => {
      for (const [method, path] of [
        ['GET', '/v1/admin/stats'],
        ['POST', '/v1/admin/cache/flush'],
      ] as const) {
        const r = await call(a, method, path, undefined, {}, { auth: keys[role] });
        expect(r.status, `${role} ${method} ${path}`).toBe(403);
        expect(r.body.detail).toContain('system:admin');
      }
    },
  );
});

describe('GET /v1/me', () => {
  it.each(ROLES)('tells a %s caller its identity, roles and permissions', async (role) => {
    const r = await call(a, 'GET', '/v1/me', undefined, {}, { auth: keys[role] });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ kind: 'api_key', roles: [role] });
    expect(r.body.actor).toContain(`test ${role}`);
    expect(r.body.id).toMatch(/^key:/);
    expect([...r.body.permissions].sort()).toEqual([...ROLE_PERMISSIONS[role]].sort());
  });

  it('answers 401 without a credential', async () => {
    expect((await call(a, 'GET', '/v1/me', undefined, {}, { auth: false })).status).toBe(401);
  });
});
