/**
 * Hot aggregates: the open windows in Redis and the stored windows through the three-tier cache, read
 * together so that the metrics query sees recent data before the watermark closes a window, and a repeat
 * query costs no database round trip.
 *
 * Exactness: every shard owns one row per window and always writes it whole, never a delta. The
 * hot copy in Redis carries the offset its state reflects, and so does the row in PostgreSQL
 * (`through_offset`); per window and shard a reader takes exactly one of the two, the one with the larger
 * offset. A shard's row only grows with its offset, so the larger offset is the fresher state, and no
 * window is ever counted from both. Redis is read before PostgreSQL, so a hot copy dropped meanwhile
 * (its window finalized) is already in what PostgreSQL answers.
 *
 * Caching: stored windows are cached per target and hour block (by window start). A shard that commits
 * bumps a version counter per block it touched (Redis INCR, in-process without Redis) and announces the
 * new version on the invalidation bus; a load stamps what it read with the counter it saw before reading,
 * so a load that raced a commit is older than the announced version and is dropped, in memory and in
 * Redis alike (tiered-cache.ts: version floors and compare-and-set).
 */
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { alignDown } from '../core/windowing/engine';
import {
  decodeState,
  encodeState,
  mergeInto,
  type EncodedState,
  type WindowKey,
} from '../core/windowing/aggregate-state';
import type { AggregatesRepo, ShardWindow, StoredShardRow } from './store';
import type { AggregatesPublisher } from '../core/ports';

export type { AggregatesPublisher };
import type { Logger } from '../../platform/logger';
import { INVALIDATION_CHANNEL, type Invalidation, type InvalidationBus } from '../../adapters/cache/bus';
import { createTieredCache } from '../../adapters/cache/tiered-cache';

export const AGGREGATES_NS = 'aggregates';
/** Stored windows are cached per target in blocks of this width, by window start. */
export const BLOCK_MS = 3_600_000;
/** The newest blocks of a query go through the cache; older ones are read from PostgreSQL at once. */
const CACHED_BLOCKS = 24;
/** A block's version counter outlives every cached copy of the block by far. */
const VERSION_TTL_MS = 7 * 86_400_000;

const SEP = '\u0000';
const hotKey = (target: string) => `llmopt:hot:${target}`;
const hotField = (w: Omit<WindowKey, 'target'>, shard: string) =>
  `${w.segment}${SEP}${w.arm}${SEP}${w.start}${SEP}${w.end}${SEP}${shard}`;
// Slugs cannot contain "@", so the pair maps to one key and back.
const blockKey = (target: string, block: number) => `${target}@${block}`;
const versionKey = (key: string) => `llmopt:aggver:${key}`;

/** Versions without Redis: then one process both commits and reads (the embedded pipeline in the API). */
const localVersions = new Map<string, number>();

export function createAggregatesPublisher(opts: {
  redis?: Redis;
  /** The process's bus; without it, invalidations go straight to the Redis channel. */
  bus?: Pick<InvalidationBus, 'publish'>;
  /** Lifetime of a target's hot hash after its last write: longer than any window stays open. */
  hotTtlMs: number;
}): AggregatesPublisher {
  const { redis } = opts;
  const announce = async (m: Invalidation) => {
    if (opts.bus) await opts.bus.publish(m);
    else await redis?.publish(INVALIDATION_CHANNEL, JSON.stringify(m));
  };
  return {
    async publishHot(shard, offset, windows) {
      if (!redis || windows.length === 0) return;
      // Encoded now, before any await: the shard keeps folding events into these states meanwhile.
      const byTarget = new Map<string, string[]>();
      for (const w of windows) {
        let args = byTarget.get(w.target);
        if (!args) byTarget.set(w.target, (args = []));
        args.push(hotField(w, shard), `${offset}:${JSON.stringify(encodeState(w.state))}`);
      }
      const p = redis.pipeline();
      for (const [target, args] of byTarget) {
        p.hset(hotKey(target), ...args);
        p.pexpire(hotKey(target), opts.hotTtlMs);
      }
      await p.exec();
    },
    async committed(shard, windows, finalized) {
      const blocks = [...new Set(windows.map((w) => blockKey(w.target, alignDown(w.start, BLOCK_MS))))];
      let versions: number[];
      if (redis) {
        const p = redis.pipeline();
        for (const b of blocks) p.incr(versionKey(b)).pexpire(versionKey(b), VERSION_TTL_MS);
        const replies = (await p.exec()) ?? [];
        versions = blocks.map((_, i) => Number(replies[2 * i]?.[1] ?? 0));
      } else {
        versions = blocks.map((b) => {
          const v = (localVersions.get(b) ?? 0) + 1;
          localVersions.set(b, v);
          return v;
        });
      }
      await Promise.all(blocks.map((key, i) => announce({ ns: AGGREGATES_NS, key, version: versions[i]! })));
      if (redis && finalized.length > 0) {
        const p = redis.pipeline();
        for (const w of finalized) p.hdel(hotKey(w.target), hotField(w, shard));
        await p.exec();
      }
    },
  };
}

export interface AggregatesQuery {
  target: string;
  segment?: string;
  arm?: string;
  /** Window starts in [from, to), epoch ms. */
  from: number;
  to: number;
}

export interface AggregatesReader {
  /** Windows of the query, every shard merged, each shard's row counted once (hot or stored). */
  queryStates(q: AggregatesQuery): Promise<ShardWindow[]>;
  stats(): { l1: number; l2: number; loads: number; invalidations: number; hot: number };
  close(): void;
}

interface Block {
  v: number;
  rows: StoredShardRow[];
}

export function createAggregatesReader(opts: {
  repo: AggregatesRepo;
  bus: InvalidationBus;
  redis?: Redis;
  registry?: Registry;
  logger?: Logger;
}): AggregatesReader {
  const { repo, redis, logger } = opts;
  let hotServed = 0;
  const currentVersion = async (key: string): Promise<number> => {
    if (!redis) return localVersions.get(key) ?? 0;
    // Unknown version: 0 is older than any announced one, so the value is reloaded at the next change.
    return Number((await redis.get(versionKey(key)).catch(() => null)) ?? 0);
  };
  const cache = createTieredCache<Block>({
    ns: AGGREGATES_NS,
    bus: opts.bus,
    ...(redis ? { redis } : {}),
    ...(opts.registry ? { registry: opts.registry } : {}),
    ...(logger ? { logger } : {}),
    l1Max: 2_000,
    l1TtlMs: 60_000,
    l2TtlSeconds: 120,
    version: (b) => b.v,
    load: async (key) => {
      const at = key.lastIndexOf('@');
      const block = Number(key.slice(at + 1));
      // The version first: a commit landing after it makes this load older than its announcement.
      const v = await currentVersion(key);
      return { v, rows: await repo.shardRows(key.slice(0, at), block, block + BLOCK_MS) };
    },
  });

  async function readHot(target: string): Promise<StoredShardRow[]> {
    if (!redis) return [];
    let raw: Record<string, string>;
    try {
      raw = await redis.hgetall(hotKey(target));
    } catch (err) {
      // Stored windows alone are still exact, only less recent.
      logger?.warn({ err: String(err), target }, 'hot windows unreadable; answering from stored windows');
      return [];
    }
    return Object.entries(raw).map(([field, value]) => {
      const [segment, arm, start, end, shard] = field.split(SEP) as [string, string, string, string, string];
      const colon = value.indexOf(':');
      return {
        target,
        segment,
        arm,
        start: Number(start),
        end: Number(end),
        shard,
        offset: Number(value.slice(0, colon)),
        state: JSON.parse(value.slice(colon + 1)) as EncodedState,
      };
    });
  }

  return {
    async queryStates(q) {
      const hot = await readHot(q.target);
      const blocks: number[] = [];
      for (let b = alignDown(q.from, BLOCK_MS); b < q.to; b += BLOCK_MS) blocks.push(b);
      const older = blocks.slice(0, Math.max(0, blocks.length - CACHED_BLOCKS));
      const recent = blocks.slice(older.length);
      const [direct, cached] = await Promise.all([
        older.length > 0 ? repo.shardRows(q.target, older[0]!, older.at(-1)! + BLOCK_MS) : [],
        Promise.all(recent.map((b) => cache.get(blockKey(q.target, b)))),
      ]);
      const wanted = (r: StoredShardRow) =>
        (q.segment === undefined || r.segment === q.segment) &&
        (q.arm === undefined || r.arm === q.arm) &&
        r.start >= q.from &&
        r.start < q.to;
      // Per window and shard exactly one copy: the stored row, or the hot one when it is fresher.
      const chosen = new Map<string, StoredShardRow>();
      for (const r of direct) if (wanted(r)) chosen.set(hotField(r, r.shard), r);
      for (const b of cached)
        for (const r of b?.rows ?? []) if (wanted(r)) chosen.set(hotField(r, r.shard), r);
      for (const h of hot) {
        if (!wanted(h)) continue;
        const f = hotField(h, h.shard);
        const stored = chosen.get(f);
        if (!stored || h.offset > stored.offset) {
          chosen.set(f, h);
          hotServed++;
        }
      }
      const out = new Map<string, ShardWindow>();
      for (const r of chosen.values()) {
        const k = `${r.segment}${SEP}${r.arm}${SEP}${r.start}${SEP}${r.end}`;
        const prev = out.get(k);
        const state = decodeState(r.state);
        if (prev) mergeInto(prev.state, state);
        else
          out.set(k, { target: r.target, segment: r.segment, arm: r.arm, start: r.start, end: r.end, state });
      }
      return [...out.values()].sort(
        (a, b) => a.start - b.start || a.segment.localeCompare(b.segment) || a.arm.localeCompare(b.arm),
      );
    },
    stats: () => ({ ...cache.stats(), hot: hotServed }),
    close: () => cache.close(),
  };
}
