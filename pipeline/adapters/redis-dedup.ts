/**
 * The dedup store of every process in Redis (SET NX with GET, one pipeline a batch): shared by API
 * workers and stream replicas, and outliving any of them, so it needs no rebuild from a log.
 */
import type { Redis } from 'ioredis';
import { isFirst, marker, type Dedup } from '../core/dedup';

export function createRedisDedup(redis: Redis, horizonMs: number, prefix = 'llmopt:dedup:'): Dedup {
  return {
    kind: 'redis',
    async firstSeen(shard, items) {
      if (items.length === 0) return [];
      const p = redis.pipeline();
      for (const it of items) p.set(prefix + it.id, marker(shard, it.offset), 'PX', horizonMs, 'NX', 'GET');
      const results = (await p.exec()) ?? [];
      return items.map((it, i) => {
        const [err, value] = results[i] ?? [new Error('no reply'), null];
        if (err) throw err;
        return isFirst(shard, it.offset, (value as string | null) ?? null);
      });
    },
  };
}
