/**
 * A three-tier read-through cache: in-process LRU → Redis → the loader (PostgreSQL). Every process keeps
 * its hottest values in memory; a miss asks Redis (shared by all processes, so a fleet of API replicas
 * costs the database one load per change, not one per replica); a Redis miss runs the loader and fills
 * both tiers. Writers call `put` (versioned values) or `invalidate`, which tells every process through
 * the invalidation bus.
 *
 * Why stale values cannot stick:
 * - Versioned values (routing configs) are written to Redis by a compare-and-set script that never
 *   replaces a newer version with an older one, so a slow reader that loaded before a change cannot
 *   overwrite it.
 * - An invalidation bumps the key's epoch in every process; a load that started before it still answers
 *   its own caller but does not fill the first tier. Its version becomes the key's floor, so a Redis
 *   value older than the announced version is treated as a miss.
 * - A bus reconnect (messages possibly missed) drops the whole first tier; a TTL on both tiers bounds what
 *   is left (say, a message lost to a network partition not yet noticed).
 */
import { LRUCache } from 'lru-cache';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { registeredDeferredCounter } from '../../platform/metrics';
import type { Logger } from '../../platform/logger';
import { FLUSH_ALL_NS, type InvalidationBus } from './bus';

export interface TieredCacheOptions<V extends object> {
  /** Namespace of keys and invalidations, e.g. "routing-config". */
  ns: string;
  bus: InvalidationBus;
  /** Second tier; without it the cache has two tiers (one process, or a test). */
  redis?: Redis;
  /** Third tier: the source of truth. `null` means "does not exist" and is not cached. */
  load: (key: string) => Promise<V | null>;
  /** A value's monotonically increasing version; enables compare-and-set in Redis and version floors. */
  version?: (value: V) => number;
  /** Entries kept in memory per process. */
  l1Max?: number;
  /** Safety-net lifetime of a first-tier entry; invalidations normally evict long before. */
  l1TtlMs?: number;
  /** Lifetime of a Redis entry. */
  l2TtlSeconds?: number;
  registry?: Registry;
  logger?: Logger;
}

export interface TieredCache<V extends object> {
  get(key: string): Promise<V | null>;
  /** The first-tier value only, synchronously (hot paths that can fall back themselves); a hit counts. */
  peek(key: string): V | undefined;
  /** Writer side for versioned values: store the new value in Redis and here, and tell every process. */
  put(key: string, value: V): Promise<void>;
  /** Writer side: the value of `key` changed (to `version`, when known); every process drops its copy. */
  invalidate(key: string, version?: number): Promise<void>;
  /** Counts by tier since start, for benches and tests. */
  stats(): { l1: number; l2: number; loads: number; invalidations: number };
  close(): void;
}

/** Redis-side compare-and-set: write only when the stored value is not newer ("<version>:<json>"). */
const SET_IF_NOT_OLDER = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.match(cur, '^(%d+):'))
  if v and v > tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[3]))
return 1
`;

const requestsCounter = (registry: Registry) =>
  registeredDeferredCounter(registry, {
    name: 'llmopt_cache_requests_total',
    help: 'Cache reads by the tier that answered (l1 memory, l2 redis, load = database)',
    labelNames: ['cache', 'tier'],
  });

export function createTieredCache<V extends object>(opts: TieredCacheOptions<V>): TieredCache<V> {
  const { ns, bus, redis, load, version } = opts;
  const l2Ttl = opts.l2TtlSeconds ?? 3600;
  const l1 = new LRUCache<string, V>({ max: opts.l1Max ?? 10_000, ttl: opts.l1TtlMs ?? 60_000 });
  const epochs = new Map<string, number>();
  const floors = new Map<string, number>();
  const inflight = new Map<string, Promise<V | null>>();
  const stats = { l1: 0, l2: 0, loads: 0, invalidations: 0 };
  // Children bound once: a hit on the hottest read must not hash labels.
  const counter = opts.registry ? requestsCounter(opts.registry) : undefined;
  const counted = counter && {
    l1: counter.bind({ cache: ns, tier: 'l1' }),
    l2: counter.bind({ cache: ns, tier: 'l2' }),
    load: counter.bind({ cache: ns, tier: 'load' }),
  };
  const redisKey = (key: string) => `llmopt:cache:${ns}:${key}`;

  const warn = (err: unknown, what: string) =>
    opts.logger?.warn({ err: err instanceof Error ? err.message : String(err), cache: ns }, what);

  function evict(key: string, newVersion?: number) {
    const held = l1.get(key);
    if (newVersion !== undefined && version) {
      floors.set(key, Math.max(floors.get(key) ?? 0, newVersion));
      if (held && version(held) >= newVersion) return;
    }
    stats.invalidations++;
    l1.delete(key);
    inflight.delete(key);
    epochs.set(key, (epochs.get(key) ?? 0) + 1);
  }

  const unsubscribe = bus.subscribe(ns, (m) => evict(m.key, m.version));
  const dropAll = () => {
    l1.clear();
    inflight.clear();
    for (const k of epochs.keys()) epochs.set(k, (epochs.get(k) ?? 0) + 1);
  };
  const unresync = bus.onResync(dropAll);
  // An operator's flush reaches every process through the bus, as a missed message would be handled.
  const unflush = bus.subscribe(FLUSH_ALL_NS, dropAll);

  async function readL2(key: string): Promise<V | undefined> {
    if (!redis) return undefined;
    try {
      const raw = await redis.get(redisKey(key));
      if (raw === null) return undefined;
      const colon = raw.indexOf(':');
      const v = Number(raw.slice(0, colon));
      if (version && v < (floors.get(key) ?? 0)) return undefined;
      return JSON.parse(raw.slice(colon + 1)) as V;
    } catch (err) {
      warn(err, 'cache second tier unreadable; loading from the source');
      return undefined;
    }
  }

  async function writeL2(key: string, value: V): Promise<void> {
    if (!redis) return;
    const v = version ? version(value) : 0;
    const payload = `${v}:${JSON.stringify(value)}`;
    try {
      if (version) await redis.eval(SET_IF_NOT_OLDER, 1, redisKey(key), payload, v, l2Ttl);
      else await redis.set(redisKey(key), payload, 'EX', l2Ttl);
    } catch (err) {
      warn(err, 'cache second tier not written');
    }
  }

  async function fill(key: string): Promise<V | null> {
    const epoch = epochs.get(key) ?? 0;
    let value: V | null | undefined = await readL2(key);
    if (value) {
      stats.l2++;
      counted?.l2.inc();
    } else {
      stats.loads++;
      counted?.load.inc();
      value = await load(key);
      if (value) await writeL2(key, value);
    }
    if (value && (epochs.get(key) ?? 0) === epoch) l1.set(key, value);
    return value;
  }

  function peek(key: string): V | undefined {
    const hit = l1.get(key);
    if (hit) {
      stats.l1++;
      counted?.l1.inc();
    }
    return hit;
  }

  return {
    get(key) {
      const hit = peek(key);
      if (hit) return Promise.resolve(hit);
      let p = inflight.get(key);
      if (!p) {
        p = fill(key).finally(() => {
          if (inflight.get(key) === p) inflight.delete(key);
        });
        inflight.set(key, p);
      }
      return p;
    },
    peek,
    async put(key, value) {
      await writeL2(key, value);
      const v = version?.(value);
      evict(key, v);
      if (!l1.has(key)) l1.set(key, value);
      await bus.publish({ ns, key, ...(v !== undefined ? { version: v } : {}) });
    },
    async invalidate(key, newVersion) {
      if (redis && newVersion === undefined) {
        await redis.del(redisKey(key)).catch((err: unknown) => warn(err, 'cache second tier not cleared'));
      }
      await bus.publish({ ns, key, ...(newVersion !== undefined ? { version: newVersion } : {}) });
    },
    stats: () => ({ ...stats }),
    close() {
      unsubscribe();
      unresync();
      unflush();
      l1.clear();
    },
  };
}
