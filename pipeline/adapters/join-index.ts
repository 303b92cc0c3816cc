/**
 * The feedback join index (pipeline/core/join.ts) shared by every stream process, in Redis: what a
 * shard consults for feedback whose request it did not see itself, after a restart, or after a
 * rebalance gave the partition to another process. A shard writes its new entries before the commit that
 * moves its offset past them, so a request whose offset is committed is always findable here.
 *
 * Entries live in hashes bucketed by the request's event time (a quarter of the horizon each), so a
 * batch costs one HSET per bucket instead of one command per request, and a bucket expires whole once
 * every entry in it is past the join horizon. Memory: about 130 bytes an entry (a UUID request id,
 * measured on Redis 7), kept about 1.5 horizons: 10,000 requests/s with the default 10-minute horizon
 * hold about 1.2 GB. Narrower buckets would cut that further at the price of more commands per lookup.
 */
import type { Redis } from 'ioredis';
import type { JoinEntry, JoinIndex } from '../core/join';

export type { JoinEntry, JoinIndex };

const SEP = '\u0000';
const BUCKETS_PER_HORIZON = 4;

export function createRedisJoinIndex(redis: Redis, horizonMs: number, prefix = 'llmopt:join:'): JoinIndex {
  const width = Math.max(1, Math.ceil(horizonMs / BUCKETS_PER_HORIZON));
  const bucketOf = (ts: number) => Math.floor(ts / width);
  // A bucket's last write is for an entry at most one bucket younger than its start (plus event-time
  // disorder, the minute); the entry is looked for until its feedback, one horizon later.
  const ttlMs = horizonMs + width + 60_000;
  return {
    async lookup(items) {
      const found = new Map<string, JoinEntry>();
      if (items.length === 0) return found;
      // The request precedes its feedback by up to the horizon (or follows it by up to a bucket).
      const wanted = new Map<number, Set<string>>();
      for (const it of items) {
        const last = bucketOf(it.ts) + 1;
        for (let k = bucketOf(it.ts - horizonMs); k <= last; k++) {
          let ids = wanted.get(k);
          if (!ids) wanted.set(k, (ids = new Set()));
          ids.add(it.requestId);
        }
      }
      const asked = [...wanted].map(([bucket, ids]) => ({ bucket, ids: [...ids] }));
      const p = redis.pipeline();
      for (const a of asked) p.hmget(prefix + a.bucket, ...a.ids);
      const replies = (await p.exec()) ?? [];
      asked.forEach((a, i) => {
        const [err, values] = replies[i] ?? [new Error('no reply'), null];
        if (err) throw err;
        (values as (string | null)[]).forEach((v, j) => {
          if (v === null) return;
          const [ts, segment, arm] = v.split(SEP) as [string, string, string];
          found.set(a.ids[j]!, { segment, arm, ts: Number(ts) });
        });
      });
      return found;
    },
    async record(entries) {
      if (entries.length === 0) return;
      const byBucket = new Map<number, string[]>();
      for (const [id, e] of entries) {
        const b = bucketOf(e.ts);
        let args = byBucket.get(b);
        if (!args) byBucket.set(b, (args = []));
        args.push(id, `${e.ts}${SEP}${e.segment}${SEP}${e.arm}`);
      }
      const p = redis.pipeline();
      for (const [b, args] of byBucket) {
        p.hset(prefix + b, ...args);
        p.pexpire(prefix + b, ttlMs);
      }
      const replies = (await p.exec()) ?? [];
      for (const [err] of replies) if (err) throw err;
    },
  };
}
