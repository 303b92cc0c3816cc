/** Helpers shared by the embedded pipeline and the Kafka stream: config, dedup, prices, breakers. */
import CircuitBreaker from 'opossum';
import type { Redis } from 'ioredis';
import { PriceBook } from '../../domain/pricing';
import { createPricesRepo } from '../db/repos/prices';
import type { Db } from '../db/pool';
import type { Env } from '../env';
import type { Logger } from '../logger';
import type { ReadinessCheck } from '../process';
import { createMemoryDedup, createRedisDedup, type Dedup } from './dedup';
import type { ShardConfig } from './shard';

export function shardConfig(env: Env): ShardConfig {
  return {
    windowMs: env.INGEST_WINDOW_MS,
    maxOutOfOrdernessMs: env.INGEST_MAX_OUT_OF_ORDERNESS_MS,
    allowedLatenessMs: env.INGEST_ALLOWED_LATENESS_MS,
    joinHorizonMs: env.INGEST_JOIN_HORIZON_MS,
    joinMaxEntries: env.INGEST_JOIN_MAX_ENTRIES,
  };
}

export function createDedup(env: Env, redis?: Redis): Dedup {
  return redis
    ? createRedisDedup(redis, env.INGEST_DEDUP_HORIZON_MS)
    : createMemoryDedup(env.INGEST_DEDUP_HORIZON_MS);
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
