/**
 * Shared state of a process: the invalidation bus and the Redis connection of the second cache tier,
 * built from the env. With REDIS_URL unset both are in-process (one process only: `npm start` without
 * Redis keeps the single API process correct, and no other process reads the cache).
 */
import { Redis } from 'ioredis';
import type { Logger } from '../logger';
import { createLocalBus, createRedisBus, type InvalidationBus } from './bus';

export { createLocalBus, createRedisBus, type InvalidationBus, type Invalidation } from './bus';
export { createTieredCache, type TieredCache, type TieredCacheOptions } from './tiered-cache';
export { createAggregatesReader, type AggregatesReader, AGGREGATES_NS } from './aggregates';
export {
  createCachedTargetsRepo,
  createRoutingConfigCache,
  type RoutingConfigCache,
  ROUTING_CONFIG_NS,
} from './routing-configs';

export interface SharedState {
  bus: InvalidationBus;
  /** The second tier; undefined without REDIS_URL. */
  redis?: Redis;
  /** Readiness check body: Redis answers PING. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Redis options for cache reads: a dead Redis must cost a bounded delay, then the database answers. */
export function cacheRedis(url: string): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 500, enableAutoPipelining: true });
  redis.on('error', () => undefined);
  return redis;
}

export function createSharedState(env: { REDIS_URL?: string | undefined }, logger?: Logger): SharedState {
  if (!env.REDIS_URL) {
    return { bus: createLocalBus(), ping: async () => undefined, close: async () => undefined };
  }
  const redis = cacheRedis(env.REDIS_URL);
  const bus = createRedisBus({ url: env.REDIS_URL, ...(logger ? { logger } : {}) });
  return {
    bus,
    redis,
    async ping() {
      await redis.ping();
    },
    async close() {
      await bus.close();
      await redis.quit().catch(() => undefined);
    },
  };
}
