/**
 * The worker thread of the embedded pipeline (threaded.ts): it owns the shard, the API thread owns the
 * write-ahead log. Records arrive once durable, are decoded and validated here (off the API thread),
 * folded and committed; each commit is reported back, with the dead letters it stored (counted in the
 * API thread's metrics), the breaker's state (its /readyz) and the windows to invalidate in its caches.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Redis } from 'ioredis';
import type { Env } from '../platform/env';
import { createLogger } from '../platform/logger';
import { createPool } from '../adapters/db/pool';
import { createAggregatesRepo } from './adapters/store';
import {
  createCommitBreaker,
  createDedup,
  createPriceSource,
  createShardShared,
  shardConfig,
} from './common';
import type { AggregatesPublisher, DeadLetter } from './core/ports';
import { ShardProcessor } from './core/shard';
import { toIngestRecords, type StoredRecord } from './decoders/wal-batch';
import { ShardLoop } from './shard-loop';
import { connectPeer, type ThreadPeer } from './thread-rpc';

export interface ShardThreadData {
  env: Env;
  shardName: string;
  logLevel: string;
  /** Redis of the API process (dedup, join index, hot windows), when it has one. */
  redisUrl?: string;
  /** The API thread announces committed windows to its caches (it has a publisher). */
  publishes: boolean;
}

/** A commit as the API thread learns it. */
export interface CommittedNotice {
  offset: number;
  stats: Record<string, number | null>;
  waiting: number;
}

/** Records as posted: payloads arrive as Uint8Array (structured clone drops Buffer). */
export const asBuffers = (records: readonly StoredRecord[]): StoredRecord[] =>
  records.map((r) => ({
    ...r,
    payload: Buffer.from(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength),
  }));

async function main(port: NonNullable<typeof parentPort>, data: ShardThreadData): Promise<void> {
  const { env } = data;
  const logger = createLogger('ingest-shard', data.logLevel);
  const db = createPool(env.DATABASE_URL, 4);
  const redis = data.redisUrl ? new Redis(data.redisUrl) : undefined;
  const prices = createPriceSource(db, logger);
  await prices.refresh();
  const dedup = createDedup(env, redis);
  const shared = createShardShared(env, logger, redis);
  const breaker = createCommitBreaker('ingest-database');
  // Handlers run on messages, after this function has built the loop below.
  const peer: ThreadPeer = connectPeer(port, {
    open: () => loop.open(),
    replay: (records: StoredRecord[]) => loop.replay(decode(records)),
    start: async () => ({ replayed: await loop.start(), waiting: processor.waiting }),
    records: (records: StoredRecord[]) => loop.push(decode(records)),
    nudge: () => loop.nudge(),
    settle: () => loop.settleWaiting(),
    refreshPrices: () => prices.refresh(),
    stop: async () => {
      const flushed = await loop.stop();
      prices.close();
      breaker.breaker.shutdown();
      redis?.disconnect();
      await db.end();
      return flushed;
    },
  });
  const report = () => peer.notify('breaker', breaker.breaker.opened);
  breaker.breaker.on('open', report);
  breaker.breaker.on('halfOpen', report);
  breaker.breaker.on('close', report);
  // Announcements go through the API thread's caches; hot windows straight to Redis from here.
  const aggregates: AggregatesPublisher | undefined = data.publishes
    ? {
        publishHot: (shard, offset, windows) =>
          shared.aggregates?.publishHot(shard, offset, windows) ?? Promise.resolve(),
        committed: (shard, windows, finalized) =>
          peer.call('invalidate', { shard, windows: windows.map(keyOf), finalized: finalized.map(keyOf) }),
      }
    : undefined;
  const processor = new ShardProcessor(data.shardName, shardConfig(env), {
    repo: createAggregatesRepo(db),
    dedup,
    prices: prices.get,
    ...(shared.joins ? { joins: shared.joins } : {}),
    ...(aggregates ? { aggregates } : {}),
    ...(shared.onHotError ? { onHotError: shared.onHotError } : {}),
    onDeadLetters: (letters: readonly DeadLetter[]) =>
      peer.notify(
        'deadLetters',
        // What the metrics and the log need; the payloads are in the database.
        letters.map((d) => ({ offset: d.offset, eventId: d.eventId, reason: d.reason, payload: null })),
      ),
  });
  const loop = new ShardLoop(processor, {
    flushIntervalMs: env.INGEST_FLUSH_INTERVAL_MS,
    logger,
    dedup,
    guard: breaker.guard,
    onCommitted: async (offset) =>
      peer.notify('committed', {
        offset,
        stats: { ...processor.stats },
        waiting: processor.waiting,
      } satisfies CommittedNotice),
    onError: (err) => peer.notify('error', err instanceof Error ? err.message : String(err)),
  });
  const decode = (records: StoredRecord[]) =>
    toIngestRecords(asBuffers(records), (offset, reason) =>
      logger.error({ offset, reason }, 'WAL event no longer valid; passed to the dead letters'),
    );
  port.postMessage({ kind: 'notice', name: 'ready', arg: null });
}

function keyOf(w: { target: string; segment: string; arm: string; start: number; end: number }) {
  return { target: w.target, segment: w.segment, arm: w.arm, start: w.start, end: w.end };
}

if (parentPort && (workerData as { shardThread?: ShardThreadData } | null)?.shardThread) {
  await main(parentPort, (workerData as { shardThread: ShardThreadData }).shardThread);
}
