/**
 * Redis connections by purpose. Each purpose fails differently when Redis is slow or gone, so each gets
 * its settings here and nowhere else: a process opens one connection per purpose it has (app/compose.ts).
 */
import { Redis, type RedisOptions } from 'ioredis';

export type RedisPurpose =
  /** Second cache tier, rate limits, hot windows: a dead Redis costs a bounded delay, then the database answers. */
  | 'cache'
  /**
   * Ingest: dedup ids, the join index, per-source buckets. Work there is retried by the pipeline, so a
   * command may wait longer than a cache read, but not so long that a dead Redis stalls a shard.
   */
  | 'ingest'
  /** Distributed locks: a lease must be taken or refused, never left hanging. */
  | 'locks'
  /** Invalidation publishes: never queued behind a dead Redis; TTLs bound the staleness instead. */
  | 'bus-publish'
  /** The invalidation subscriber: retries forever, as a subscription has nothing else to do. */
  | 'bus-subscribe';

const OPTIONS: Record<RedisPurpose, RedisOptions> = {
  cache: { maxRetriesPerRequest: 1, commandTimeout: 500, enableAutoPipelining: true },
  ingest: { maxRetriesPerRequest: 1, commandTimeout: 2_000, enableAutoPipelining: true },
  locks: { maxRetriesPerRequest: 3, commandTimeout: 5_000 },
  'bus-publish': { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false },
  'bus-subscribe': { maxRetriesPerRequest: null },
};

/** The settings of one purpose (a copy: callers may add a connection name). */
export function redisOptions(purpose: RedisPurpose): RedisOptions {
  return { ...OPTIONS[purpose] };
}

/**
 * A connection for `purpose`. Errors surface on the commands that fail; the connection's own `error`
 * events (every reconnect attempt) are swallowed unless `onError` wants them.
 */
export function connectRedis(url: string, purpose: RedisPurpose, onError?: (err: Error) => void): Redis {
  const redis = new Redis(url, redisOptions(purpose));
  redis.on('error', onError ?? (() => undefined));
  return redis;
}
