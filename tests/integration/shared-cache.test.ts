/**
 * The three-tier cache over real Redis and PostgreSQL, with two cache instances standing in for two
 * processes (each has its own Redis connections and pub/sub subscriber).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import {
  createCachedTargetsRepo,
  createLocalBus,
  createPostgresBus,
  createRedisBus,
  createSharedState,
  createTieredCache,
  type SharedState,
} from '../../adapters/cache';
import { createPool, type Db } from '../../adapters/db/pool';
import { eventually, testEnv, uniqueName } from '../helpers/env';
import { testArm } from '../helpers/rollout';

const arms = [testArm('big', 'openai', 'gpt-4o'), testArm('small', 'anthropic', 'claude-3-5-haiku')];

let db: Db;
const states: SharedState[] = [];
async function simulatedProcess(): Promise<
  ReturnType<typeof createCachedTargetsRepo> & { shared: SharedState }
> {
  const shared = createSharedState(testEnv);
  states.push(shared);
  await shared.bus.ready();
  return { shared, ...createCachedTargetsRepo(db, shared) };
}

beforeAll(() => {
  expect(testEnv.REDIS_URL, 'tests need REDIS_URL (eval "$(bash infra/services.sh env)")').toBeDefined();
  db = createPool(testEnv.DATABASE_URL, 4);
});
afterAll(async () => {
  for (const s of states) await s.close();
  await db?.end();
});

async function newTarget(repo: ReturnType<typeof createCachedTargetsRepo>['targets']): Promise<string> {
  const name = uniqueName('cache');
  await repo.create({
    name,
    description: '',
    policy: { quality_floor: 0.95, latency_slo_percentile: 'p95', require_approval: false } as never,
    arms,
    segments: ['default'],
    weights: { big: 10_000 },
  });
  return name;
}

describe('routing configs through the shared cache', () => {
  it('shows a new version to another process within a second, by pub/sub', async () => {
    const a = await simulatedProcess();
    const b = await simulatedProcess();
    const target = await newTarget(a.targets);
    expect((await a.routingConfigs.get(target, 'default'))?.version).toBe(1);
    expect((await b.routingConfigs.get(target, 'default'))?.version).toBe(1);
    // Both now serve from memory (TTL 30 s), so only an invalidation can show them version 2.
    expect(b.routingConfigs.stats().l1).toBe(0);
    await b.routingConfigs.get(target, 'default');
    expect(b.routingConfigs.stats().l1).toBe(1);

    await a.targets.appendConfig({
      target,
      segment: 'default',
      expectedVersion: 1,
      weights: { big: 9_500, small: 500 },
      rolloutId: null,
      reason: 'canary stage 1',
    });
    expect((await a.routingConfigs.get(target, 'default'))?.version).toBe(2);
    const seen = await eventually(
      async () => {
        const c = await b.routingConfigs.get(target, 'default');
        return c?.version === 2 ? c : undefined;
      },
      { timeoutMs: 1_000, intervalMs: 10, what: 'process b to see version 2' },
    );
    expect(seen.weights).toEqual({ big: 9_500, small: 500 });
    // b never asked the database: version 1 and version 2 both came from Redis, written by a.
    expect(b.routingConfigs.stats().loads).toBe(0);
  });

  it('drops its memory after the subscriber reconnects, since it may have missed an invalidation', async () => {
    const name = uniqueName('bus');
    const bus = createRedisBus({ url: testEnv.REDIS_URL!, name });
    await bus.ready();
    const redis = new Redis(testEnv.REDIS_URL!);
    let loads = 0;
    const cache = createTieredCache<{ n: number }>({ ns: 'resync', bus, load: async () => ({ n: ++loads }) });
    expect((await cache.get('k'))?.n).toBe(1);
    expect((await cache.get('k'))?.n).toBe(1);
    // Cut the subscriber's connection as a network blip would; ioredis reconnects and resubscribes.
    const clients = String(await redis.call('CLIENT', 'LIST', 'TYPE', 'pubsub'));
    const id = clients
      .split('\n')
      .find((l) => l.includes(`name=${name}`))
      ?.match(/id=(\d+)/)?.[1];
    expect(id).toBeDefined();
    await redis.client('KILL', 'ID', id!);
    await eventually(async () => (await cache.get('k'))?.n === 2, {
      what: 'the first tier to be dropped on reconnect',
    });
    await Promise.all([bus.close(), redis.quit()]);
  });

  it('answers from the database when Redis is unreachable', async () => {
    const shared = {
      bus: createLocalBus(),
      redis: new Redis('redis://127.0.0.1:1', {
        maxRetriesPerRequest: 0,
        lazyConnect: true,
        commandTimeout: 200,
      }),
    };
    shared.redis.on('error', () => undefined);
    const { targets, routingConfigs } = createCachedTargetsRepo(db, shared);
    const target = await newTarget(targets);
    expect((await routingConfigs.get(target, 'default'))?.weights).toEqual({ big: 10_000 });
    expect(await routingConfigs.get(target, 'no-such-segment')).toBeNull();
    shared.redis.disconnect();
  });
});

describe('tiered cache', () => {
  it('never lets a load that started before a change overwrite the newer version', async () => {
    const redis = new Redis(testEnv.REDIS_URL!);
    const key = uniqueName('k');
    let release!: (v: { version: number }) => void;
    const slowLoad = new Promise<{ version: number }>((resolve) => (release = resolve));
    const busA = createLocalBus();
    const writer = createTieredCache<{ version: number }>({
      ns: 'race',
      bus: busA,
      redis,
      load: async () => ({ version: 0 }),
      version: (v) => v.version,
    });
    const reader = createTieredCache<{ version: number }>({
      ns: 'race',
      bus: busA,
      redis,
      load: () => slowLoad,
      version: (v) => v.version,
    });

    const pending = reader.get(key);
    await writer.put(key, { version: 2 });
    release({ version: 1 });
    // The slow reader still answers its own caller with what it loaded...
    expect((await pending)?.version).toBe(1);
    // ...but neither its memory nor Redis keeps it.
    expect((await reader.get(key))?.version).toBe(2);
    const third = createTieredCache<{ version: number }>({
      ns: 'race',
      bus: createLocalBus(),
      redis,
      load: async () => ({ version: -1 }),
      version: (v) => v.version,
    });
    expect((await third.get(key))?.version).toBe(2);
    await redis.quit();
  });

  it('reloads an unversioned value (hot aggregate) in every process after invalidate', async () => {
    const a = createSharedState(testEnv);
    const b = createSharedState(testEnv);
    states.push(a, b);
    await Promise.all([a.bus.ready(), b.bus.ready()]);
    let stored = { count: 1 };
    const key = uniqueName('agg');
    const opts = { ns: 'aggregate', load: async () => ({ ...stored }), l2TtlSeconds: 5 };
    const ca = createTieredCache<{ count: number }>({ ...opts, bus: a.bus, redis: a.redis! });
    const cb = createTieredCache<{ count: number }>({ ...opts, bus: b.bus, redis: b.redis! });
    expect((await ca.get(key))?.count).toBe(1);
    expect((await cb.get(key))?.count).toBe(1);
    stored = { count: 2 };
    await ca.invalidate(key);
    await eventually(async () => (await cb.get(key))?.count === 2, {
      timeoutMs: 1_000,
      intervalMs: 10,
      what: 'b to reload',
    });
    expect((await ca.get(key))?.count).toBe(2);
  });

  it('shares one load between concurrent misses of a key', async () => {
    let loads = 0;
    const cache = createTieredCache<{ v: number }>({
      ns: 'single-flight',
      bus: createLocalBus(),
      load: async () => {
        loads++;
        await new Promise((r) => setImmediate(r));
        return { v: 1 };
      },
    });
    const results = await Promise.all(Array.from({ length: 50 }, () => cache.get('k')));
    expect(results.every((r) => r?.v === 1)).toBe(true);
    expect(loads).toBe(1);
  });
});

describe('without Redis: invalidations through PostgreSQL LISTEN/NOTIFY', () => {
  /** A process of `npm start` on its defaults: no Redis, so no second tier; the bus is PostgreSQL. */
  async function processWithoutRedis() {
    const shared = createSharedState({ DATABASE_URL: testEnv.DATABASE_URL });
    states.push(shared);
    expect(shared.redis).toBeUndefined();
    await shared.bus.ready();
    return { shared, ...createCachedTargetsRepo(db, shared) };
  }

  it('shows a version written by one process to the memory of another within a second', async () => {
    const worker = await processWithoutRedis();
    const api = await processWithoutRedis();
    const target = await newTarget(worker.targets);
    expect((await api.routingConfigs.get(target, 'default'))?.weights).toEqual({ big: 10_000 });
    expect(api.routingConfigs.peek(`${target}/default`)?.version).toBe(1);
    // The worker appends version 2 (a rollout stage); the API held version 1 in its first tier.
    await worker.targets.appendConfig({
      target,
      segment: 'default',
      expectedVersion: 1,
      weights: { big: 8_000, small: 2_000 },
      rolloutId: null,
      reason: 'canary stage 1',
    });
    await eventually(async () => api.routingConfigs.peek(`${target}/default`)?.version !== 1, {
      timeoutMs: 1_000,
      intervalMs: 5,
      what: 'the API process to drop version 1 from memory',
    });
    expect((await api.routingConfigs.get(target, 'default'))?.weights).toEqual({ big: 8_000, small: 2_000 });
  });

  it('drops the whole first tier after its listening connection was cut, and hears again after', async () => {
    const name = uniqueName('bus');
    const bus = createPostgresBus({ url: testEnv.DATABASE_URL, applicationName: name, retryMs: 20 });
    const other = createPostgresBus({ url: testEnv.DATABASE_URL });
    await Promise.all([bus.ready(), other.ready()]);
    try {
      let resyncs = 0;
      bus.onResync(() => resyncs++);
      const heard: string[] = [];
      bus.subscribe('probe', (m) => heard.push(m.key));
      const admin = await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) t',
        [name],
      );
      expect(admin.rows[0]!.n).toBe(1);
      await eventually(async () => resyncs === 1, { timeoutMs: 5_000, intervalMs: 10, what: 'a resync' });
      await other.publish({ ns: 'probe', key: 'after-reconnect' });
      await eventually(async () => heard.includes('after-reconnect'), {
        timeoutMs: 1_000,
        intervalMs: 5,
        what: 'the message published after the reconnect',
      });
    } finally {
      await Promise.all([bus.close(), other.close()]);
    }
  });
});
