/**
 * Hot aggregates over real PostgreSQL and Redis: open windows are visible from Redis before any commit,
 * merged with the stored windows of other shards (sketches merged, never percentiles averaged), never
 * counted twice once committed, dropped from Redis when finalized; the stored windows are served through
 * the three-tier cache, and another process's commit reaches a reader through the pub/sub bus.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TelemetryEvent } from '../../../domain/events';
import { PriceBook } from '../../../domain/pricing';
import { newSketch, percentilesOf } from '../../../domain/sketch';
import { alignDown } from '../../../pipeline/core/windowing/engine';
import {
  createAggregatesPublisher,
  createAggregatesReader,
  type AggregatesReader,
} from '../../../pipeline/adapters/aggregates-cache';
import { createRedisBus, type InvalidationBus } from '../../../adapters/cache/bus';
import { createPool, type Db } from '../../../adapters/db/pool';
import { createAggregatesRepo, type AggregatesRepo } from '../../../pipeline/adapters/store';
import { createRedisDedup } from '../../../pipeline/adapters/redis-dedup';
import { ShardProcessor, type ShardConfig } from '../../../pipeline/core/shard';
import { eventually, testEnv, uniqueName } from '../../helpers/env';
import { llmRequest } from './fixtures';

const WINDOW = 10_000;
const CONFIG: ShardConfig = {
  windowMs: WINDOW,
  maxOutOfOrdernessMs: 1_000,
  allowedLatenessMs: 20_000,
  joinHorizonMs: 600_000,
  joinMaxEntries: 100_000,
  // Every processed batch publishes its changed windows (when none is in flight).
  hotIntervalMs: 0,
};

let db: Db;
let redis: Redis;
let repo: AggregatesRepo;
/** The writers' and the reader's buses are distinct Redis connections: two processes. */
let writerBus: InvalidationBus;
let readerBus: InvalidationBus;
let reader: AggregatesReader;
const closers: (() => unknown)[] = [];

beforeAll(async () => {
  db = createPool(testEnv.DATABASE_URL, 5);
  redis = new Redis(testEnv.REDIS_URL!);
  repo = createAggregatesRepo(db);
  writerBus = createRedisBus({ url: testEnv.REDIS_URL!, name: 'test-hot-writer' });
  readerBus = createRedisBus({ url: testEnv.REDIS_URL!, name: 'test-hot-reader' });
  await Promise.all([writerBus.ready(), readerBus.ready()]);
  reader = createAggregatesReader({ repo, bus: readerBus, redis: new Redis(testEnv.REDIS_URL!) });
});
afterAll(async () => {
  for (const c of closers) await c();
  reader?.close();
  await writerBus?.close();
  await readerBus?.close();
  redis?.disconnect();
  await db?.end();
});

async function openShard(name: string, config: ShardConfig = CONFIG): Promise<ShardProcessor> {
  const shard = new ShardProcessor(`test:${uniqueName(name)}`, config, {
    repo,
    dedup: createRedisDedup(redis, 3_600_000),
    prices: () => PriceBook.defaults(),
    aggregates: createAggregatesPublisher({ redis, bus: writerBus, hotTtlMs: 120_000 }),
  });
  await shard.open();
  return shard;
}

// Event time well in the past (so nothing is "future") and aligned to a window.
const W = alignDown(Date.now() - 10 * 60_000, WINDOW);
const offsets = new Map<ShardProcessor, number>();

const request = (target: string, n: number, latency: number, ts = W + 1_000) =>
  llmRequest(target, n, ts, { latency_ms: latency });

async function feed(shard: ShardProcessor, events: TelemetryEvent[]): Promise<void> {
  const next = offsets.get(shard) ?? shard.nextOffset;
  await shard.process(
    events.map((event, i) => ({ offset: next + i, event, ts: Date.parse(event.timestamp) })),
  );
  offsets.set(shard, next + events.length);
}

const query = (target: string) => reader.queryStates({ target, from: W - 3_600_000, to: Date.now() });
const countOf = async (target: string) => (await query(target)).reduce((s, w) => s + w.state.count, 0);
const storedCount = async (target: string) =>
  (
    await repo.query({
      target,
      from: new Date(W - 3_600_000).toISOString(),
      to: new Date().toISOString(),
    })
  ).reduce((s, w) => s + w.count, 0);

describe('open windows hot in Redis', () => {
  it('shows open windows before their commit, exactly once after it, and drops them when finalized', async () => {
    const target = uniqueName('hot');
    const a = await openShard('hot-a');
    const b = await openShard('hot-b');
    const latencies: number[] = [];
    const batch = (shard: string, from: number, n: number) =>
      Array.from({ length: n }, (_, i) => {
        const latency = 50 + (((from + i) * 37) % 900);
        latencies.push(latency);
        return request(target, from + i, latency);
      }).map((e) => ({ ...e, id: `${shard}-${e.id}` }));

    await feed(a, batch('a', 0, 30));
    await eventually(async () => (await countOf(target)) === 30, { what: 'hot window of shard a' });
    expect(await storedCount(target)).toBe(0);

    // Shard b commits its own 20 events of the same window; a's 30 are still only in Redis.
    await feed(b, batch('b', 100, 20));
    await b.flush();
    await eventually(async () => (await countOf(target)) === 50, { what: 'stored b merged with hot a' });
    const [merged] = await query(target);
    const all = newSketch();
    for (const l of latencies) all.accept(l);
    // Percentiles of the merged sketch: those of one sketch over all 50 latencies (up to the float noise
    // of the sketch's serialized index mapping), not a mean of the two shards' percentiles.
    const got = percentilesOf(merged!.state.latency!);
    const want = percentilesOf(all);
    for (const p of ['p50', 'p90', 'p95', 'p99'] as const) expect(got[p]! / want[p]!).toBeCloseTo(1, 9);
    expect(merged!.state.costNusd).toBe(50 * 1_000_000);

    // a commits: the same rows are now in PostgreSQL and in Redis; each is counted once.
    await a.flush();
    expect(await storedCount(target)).toBe(50);
    expect(await countOf(target)).toBe(50);

    // More for a, not committed: the hot copy is newer than the stored row and replaces it.
    await feed(a, batch('a', 30, 10));
    await eventually(async () => (await countOf(target)) === 60, { what: 'newer hot copy of a' });
    expect(await storedCount(target)).toBe(50);
    const hotOfA = async () =>
      Object.keys(await redis.hgetall(`llmopt:hot:${target}`)).filter(
        (f) => f.includes(`\u0000${W}\u0000`) && f.endsWith(a.shard),
      );
    expect(await hotOfA()).toHaveLength(1);

    // An event far later moves a's watermark past the window's lateness: the window is finalized.
    await feed(a, [request(target, 999, 100, W + WINDOW + 25_000)]);
    await a.flush();
    expect(await hotOfA()).toEqual([]);
    expect(await storedCount(target)).toBe(61);
    await eventually(async () => (await countOf(target)) === 61, {
      what: 'finalized windows from PostgreSQL',
    });
  });
});

describe('stored windows through the three-tier cache', () => {
  it('serves a repeat query from memory and sees another process commit through the bus', async () => {
    const target = uniqueName('cached');
    // This writer publishes nothing hot: what the reader sees comes from PostgreSQL through the cache.
    const c = await openShard('cache-c', { ...CONFIG, hotIntervalMs: Number.MAX_SAFE_INTEGER });
    await feed(
      c,
      Array.from({ length: 12 }, (_, i) => request(target, i, 100 + i)),
    );
    await c.flush();

    const before = reader.stats();
    expect(await countOf(target)).toBe(12);
    const afterFirst = reader.stats();
    expect(afterFirst.loads).toBeGreaterThan(before.loads);
    expect(await countOf(target)).toBe(12);
    const afterRepeat = reader.stats();
    expect(afterRepeat.loads).toBe(afterFirst.loads);
    expect(afterRepeat.l1).toBeGreaterThan(afterFirst.l1);

    // Another reader process finds the blocks in Redis (second tier) without loading them.
    const otherBus = createRedisBus({ url: testEnv.REDIS_URL!, name: 'test-hot-reader-2' });
    await otherBus.ready();
    const other = createAggregatesReader({ repo, bus: otherBus, redis });
    closers.push(
      () => other.close(),
      () => otherBus.close(),
    );
    expect((await other.queryStates({ target, from: W - 3_600_000, to: Date.now() }))[0]!.state.count).toBe(
      12,
    );
    expect(other.stats()).toMatchObject({ loads: 0 });
    expect(other.stats().l2).toBeGreaterThan(0);

    // A commit by the writer invalidates the cached block in every reader (pub/sub), long before any TTL.
    await feed(
      c,
      Array.from({ length: 5 }, (_, i) => request(target, 100 + i, 300)),
    );
    await c.flush();
    await eventually(async () => (await countOf(target)) === 17, { what: 'invalidated cache' });
    expect(reader.stats().invalidations).toBeGreaterThan(afterRepeat.invalidations);
    expect(reader.stats().hot).toBe(afterRepeat.hot);
    await eventually(
      async () =>
        (await other.queryStates({ target, from: W - 3_600_000, to: Date.now() }))[0]!.state.count === 17,
      { what: 'invalidated cache of the other reader' },
    );
  });
});
