/**
 * Shared state of a process: the invalidation bus and the Redis connection of the second cache tier,
 * built from the env. With REDIS_URL unset there is no second tier and invalidations travel through
 * PostgreSQL LISTEN/NOTIFY: under `npm start` the orchestration worker writes the routing configs the
 * API serves from memory, so the API must hear of each version within milliseconds, not at a TTL.
 */
import type { Redis } from 'ioredis';
import { connectRedis } from '../redis';
import type { Logger } from '../../platform/logger';
import { createPostgresBus, createRedisBus, type InvalidationBus } from './bus';

export {
  createLocalBus,
  createPostgresBus,
  createRedisBus,
  type InvalidationBus,
  type Invalidation,
} from './bus';
export { createTieredCache, type TieredCache, type TieredCacheOptions } from './tiered-cache';
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

export function createSharedState(
  env: { REDIS_URL?: string | undefined; DATABASE_URL: string },
  logger?: Logger,
): SharedState {
  if (!env.REDIS_URL) {
    const bus = createPostgresBus({ url: env.DATABASE_URL, ...(logger ? { logger } : {}) });
    return { bus, ping: async () => undefined, close: () => bus.close() };
  }
  // Cache reads: a dead Redis must cost a bounded delay, then the database answers (adapters/redis.ts).
  const redis = connectRedis(env.REDIS_URL, 'cache');
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
