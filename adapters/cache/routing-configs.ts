/**
 * Routing configs through the three-tier cache. The API's config route reads here; every writer of a
 * new version (the targets repository's `onConfigChange` hook) puts it here, which reaches every process
 * through the invalidation bus well within a second.
 */
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { RoutingConfig } from '../../domain/model';
import type { Db } from '../db/pool';
import { createTargetsRepo, type TargetsRepo } from '../db/repos/targets';
import type { Logger } from '../../platform/logger';
import type { InvalidationBus } from './bus';
import { createTieredCache, type TieredCacheOptions } from './tiered-cache';

export const ROUTING_CONFIG_NS = 'routing-config';

export interface RoutingConfigCache {
  get(target: string, segment: string): Promise<RoutingConfig | null>;
  /**
   * What this process holds right now of the config under `key` (routingConfigKey), with no I/O;
   * undefined when `get` would have to load it.
   */
  peek(key: string): RoutingConfig | undefined;
  /** Announce a version just written (after its transaction committed). */
  publish(config: RoutingConfig): Promise<void>;
  /** The segment (or its whole target) was deleted: every process drops what it holds of it. */
  invalidate(target: string, segment: string): Promise<void>;
  stats(): ReturnType<ReturnType<typeof createTieredCache>['stats']>;
  close(): void;
}

// Slugs cannot contain "/", so the pair maps to one key and back without ambiguity.
const keyOf = (target: string, segment: string) => `${target}/${segment}`;

/** The cache key of a target's segment, for `peek`: a hot reader builds it once per URL, not per read. */
export const routingConfigKey = keyOf;

export function createRoutingConfigCache(
  opts: Omit<TieredCacheOptions<RoutingConfig>, 'ns' | 'load' | 'version'> & {
    source: { currentConfig(target: string, segment: string): Promise<RoutingConfig | null> };
  },
): RoutingConfigCache {
  const { source, ...rest } = opts;
  const cache = createTieredCache<RoutingConfig>({
    // A version whose announcement was lost (writer crashed after commit) shows within these bounds.
    l1TtlMs: 30_000,
    l2TtlSeconds: 60,
    ...rest,
    ns: ROUTING_CONFIG_NS,
    version: (c) => c.version,
    load: (key) => {
      const slash = key.indexOf('/');
      return source.currentConfig(key.slice(0, slash), key.slice(slash + 1));
    },
  });
  return {
    get: (target, segment) => cache.get(keyOf(target, segment)),
    peek: (key) => cache.peek(key),
    publish: (config) => cache.put(keyOf(config.target, config.segment), config),
    invalidate: (target, segment) => cache.invalidate(keyOf(target, segment)),
    stats: () => cache.stats(),
    close: () => cache.close(),
  };
}

/**
 * The targets repository wired to the routing-config cache: every version it appends is announced to
 * every process. Processes that write configs (API, orchestration worker) build their repository here.
 */
export function createCachedTargetsRepo(
  db: Db,
  shared: { bus: InvalidationBus; redis?: Redis | undefined },
  opts: { registry?: Registry; logger?: Logger } = {},
): { targets: TargetsRepo; routingConfigs: RoutingConfigCache } {
  // The cache reads through the repository and the repository announces to the cache: tie the knot.
  const late: { cache?: RoutingConfigCache } = {};
  const targets = createTargetsRepo(db, { onConfigChange: (config) => late.cache?.publish(config) });
  const routingConfigs = createRoutingConfigCache({
    source: targets,
    bus: shared.bus,
    ...(shared.redis ? { redis: shared.redis } : {}),
    ...opts,
  });
  late.cache = routingConfigs;
  return { targets, routingConfigs };
}
