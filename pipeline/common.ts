/** Helpers shared by the embedded pipeline and the Kafka stream: config, dedup, prices, breakers. */
import CircuitBreaker from 'opossum';
import type { Redis } from 'ioredis';
import { PriceBook } from '../domain/pricing';
import { createPricesRepo } from '../adapters/db/repos/prices';
import type { Db } from '../adapters/db/pool';
import type { Env } from '../platform/env';
import type { Logger } from '../platform/logger';
import type { ReadinessCheck } from '../platform/process';
import { createAggregatesPublisher } from './adapters/aggregates-cache';
import type { InvalidationBus } from '../adapters/cache/bus';
import { createMemoryGcra, createRedisGcra } from '../adapters/cache/gcra';
import { createMemoryDedup, type Dedup } from './core/dedup';
import { createRedisDedup } from './adapters/redis-dedup';
import type { IngestObserver, SourceLimiter } from './front';
import { deadLetterReason, type DeadLetter } from './adapters/store';
import { ingestCounters, type Metrics } from '../platform/metrics';
import { shardMetrics } from '../platform/stage-metrics';
import { createRedisJoinIndex } from './adapters/join-index';
import type { ShardConfig, ShardDeps, ShardObserver } from './core/shard';

export function shardConfig(env: Env): ShardConfig {
  return {
    windowMs: env.INGEST_WINDOW_MS,
    maxOutOfOrdernessMs: env.INGEST_MAX_OUT_OF_ORDERNESS_MS,
    allowedLatenessMs: env.INGEST_ALLOWED_LATENESS_MS,
    joinHorizonMs: env.INGEST_JOIN_HORIZON_MS,
    joinMaxEntries: env.INGEST_JOIN_MAX_ENTRIES,
    // Recent data shows within a fraction of a commit interval; never more often than every 50 ms.
    hotIntervalMs: Math.max(50, Math.min(250, Math.floor(env.INGEST_FLUSH_INTERVAL_MS / 4))),
  };
}

export type ShardSharedDeps = Pick<ShardDeps, 'joins' | 'aggregates' | 'onHotError'>;

/**
 * What shards share beyond PostgreSQL: the feedback join index and the hot open windows in Redis, and
 * the cache invalidations after each commit (through `bus`, or straight to Redis in a process without
 * one). Without Redis only the invalidations remain (one process: the embedded pipeline in the API).
 */
export function createShardShared(
  env: Env,
  logger: Logger,
  redis?: Redis,
  bus?: Pick<InvalidationBus, 'publish'>,
): ShardSharedDeps {
  const hotTtlMs =
    env.INGEST_WINDOW_MS + env.INGEST_MAX_OUT_OF_ORDERNESS_MS + env.INGEST_ALLOWED_LATENESS_MS + 60_000;
  let warned = 0;
  return {
    ...(redis ? { joins: createRedisJoinIndex(redis, env.INGEST_JOIN_HORIZON_MS) } : {}),
    ...(redis || bus
      ? {
          aggregates: createAggregatesPublisher({
            ...(redis ? { redis } : {}),
            ...(bus ? { bus } : {}),
            hotTtlMs,
          }),
        }
      : {}),
    onHotError: (err) => {
      if (Date.now() - warned < 60_000) return;
      warned = Date.now();
      logger.warn(
        { err: String(err) },
        'hot windows or cache invalidation not published; readers catch up later',
      );
    },
  };
}

export function createDedup(env: Env, redis?: Redis): Dedup {
  return redis
    ? createRedisDedup(redis, env.INGEST_DEDUP_HORIZON_MS)
    : createMemoryDedup(env.INGEST_DEDUP_HORIZON_MS);
}

/**
 * Per-source ingest limits as a token bucket (GCRA, its equivalent over one timestamp): with Redis one
 * per source shared by every process, without Redis (or while it fails) one per process. A batch costs
 * its events, capped at the burst, so a full bucket always takes one batch.
 */
export function createSourceLimiter(env: Env, redis?: Redis, logger?: Logger): SourceLimiter {
  const rate = env.INGEST_RATE_LIMIT_EPS;
  const burst = env.INGEST_RATE_LIMIT_BURST;
  const gcra = redis
    ? createRedisGcra(redis, { keyPrefix: 'llmopt:ingest-rl:', ...(logger ? { logger } : {}) })
    : createMemoryGcra();
  const limit = { intervalMs: 1000 / rate, toleranceMs: (burst * 1000) / rate };
  return {
    async take(source, n) {
      const r = await gcra.take(source, limit, Math.min(n, burst));
      return r.allowed
        ? { ok: true }
        : { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(r.retryMs / 1000)) };
    },
  };
}

/** A price book kept fresh from the table: every few seconds, and at once after an API change. */
export function createPriceSource(db: Db, logger: Logger, intervalMs = 5_000) {
  const repo = createPricesRepo(db);
  let book = PriceBook.defaults();
  const refresh = async () => {
    try {
      book = await repo.book();
    } catch (err) {
      logger.warn({ err }, 'price table refresh failed; keeping the previous prices');
    }
  };
  const timer = setInterval(() => void refresh(), intervalMs);
  timer.unref();
  return { get: () => book, refresh, close: () => clearInterval(timer) };
}

/**
 * What the ingest side reports to /metrics: acknowledged events and refusals at the front door, dead
 * letters by reason (platform/metrics.ts ingestCounters), each shard's claims and commits
 * (platform/stage-metrics.ts), and each dead-lettered offset in the log with its reason.
 */
export function ingestObservers(
  logger: Logger,
  metrics?: Metrics,
): {
  observer?: IngestObserver;
  shards?: ShardObserver;
  onDeadLetters: (letters: readonly DeadLetter[]) => void;
} {
  const counters = metrics && ingestCounters(metrics.registry);
  return {
    ...(counters ? { observer: { accepted: counters.accepted, refused: counters.refused } } : {}),
    ...(metrics ? { shards: shardMetrics(metrics.registry) } : {}),
    onDeadLetters: (letters) => {
      const byReason = new Map<string, number>();
      for (const d of letters) {
        const reason = deadLetterReason(d.reason);
        byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
        if (reason !== 'too_late')
          logger.warn({ offset: d.offset, eventId: d.eventId, reason: d.reason }, 'ingest dead letter');
      }
      if (counters) for (const [reason, n] of byReason) counters.deadLettered(reason, n);
    },
  };
}

/** opossum around a commit: opens after repeated failures so /readyz names the database. */
export function createCommitBreaker(name: string) {
  const breaker = new CircuitBreaker(async (fn: () => Promise<unknown>) => fn(), {
    name,
    timeout: 15_000,
    errorThresholdPercentage: 50,
    volumeThreshold: 3,
    resetTimeout: 5_000,
  });
  return {
    breaker,
    guard: <T>(fn: () => Promise<T>) => breaker.fire(fn) as Promise<T>,
    check: (): ReadinessCheck => ({
      name,
      check: async () => {
        if (breaker.opened) throw new Error(`circuit open after repeated failures`);
      },
    }),
  };
}
