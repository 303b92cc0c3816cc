/**
 * Builds the ingest side of a process from the env: the embedded WAL pipeline when KAFKA_BROKERS is
 * unset (or forced), with dedup in Redis when REDIS_URL is set (in-process otherwise), a price book
 * refreshed from the table, a circuit breaker around the database commit shown in /readyz, and the
 * per-source token buckets.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { createAggregatesRepo, type AggregatesRepo } from './adapters/store';
import type { Db } from '../adapters/db/pool';
import type { Env } from '../platform/env';
import type { Logger } from '../platform/logger';
import type { ReadinessCheck } from '../platform/process';
import {
  createCommitBreaker,
  createDedup,
  createPriceSource,
  createShardShared,
  createSourceLimiter,
  ingestObservers,
  shardConfig,
} from './common';
import { ingestCounters, type Metrics } from '../platform/metrics';
import type { InvalidationBus } from '../adapters/cache/bus';
import type { IngestFront } from './front';
import { EmbeddedPipeline, type EmbeddedPipelineOptions, type IngestPipeline } from './embedded';
import { ThreadedPipeline } from './threaded';
import { adoptRetiredShards, type AdoptedShard } from './adopt';

/** A WAL directory untouched this long is not a worker's that is just restarting (adopt.ts). */
const ADOPT_AFTER_IDLE_MS = 60_000;
const ADOPT_INTERVAL_MS = 5 * 60_000;

export { createCommitBreaker, createDedup, createPriceSource, shardConfig } from './common';

export interface EmbeddedIngest {
  front: IngestFront;
  /** This process's own shard: on the API thread, or in a worker thread (INGEST_SHARD_THREAD). */
  pipeline: IngestPipeline;
  aggregates: AggregatesRepo;
  checks: ReadinessCheck[];
  /** Retired shards of DATA_DIR the first round at start adopted (resolves once they are drained). */
  adoption: Promise<AdoptedShard[]>;
  onPricesChanged(): Promise<void>;
  stop(): Promise<void>;
}

/** The embedded pipeline (WAL → windows → PostgreSQL), started and ready to accept. */
export async function startEmbeddedIngest(opts: {
  env: Env;
  db: Db;
  logger: Logger;
  redis?: Redis;
  /** The process's invalidation bus: cached aggregates are invalidated through it after each commit. */
  bus?: InvalidationBus;
  /** WAL directory and shard name; one per process (tests give each their own). */
  name?: string;
  /** How long to wait for the WAL lock held by another process (pipeline.ts default when unset). */
  lockWaitMs?: number;
  /** Retired directories are adopted once untouched this long (default a minute; tests shorten it). */
  adoptAfterMs?: number;
  /** The process's metrics: refusals and dead letters by reason are counted there. */
  metrics?: Metrics;
}): Promise<EmbeddedIngest> {
  const { env, db, logger } = opts;
  const observers = ingestObservers(logger, opts.metrics);
  const aggregates = createAggregatesRepo(db);
  const prices = createPriceSource(db, logger);
  await prices.refresh();
  const breaker = createCommitBreaker('ingest-database');
  const dedup = createDedup(env, opts.redis);
  const shared = createShardShared(env, logger, opts.redis, opts.bus);
  const optionsFor = (name: string): EmbeddedPipelineOptions => ({
    dataDir: env.DATA_DIR,
    name,
    repo: aggregates,
    dedup,
    prices: prices.get,
    shared,
    shard: shardConfig(env),
    flushIntervalMs: env.INGEST_FLUSH_INTERVAL_MS,
    maxBufferedEvents: env.INGEST_MAX_BUFFERED_EVENTS,
    walSegmentBytes: env.INGEST_WAL_SEGMENT_BYTES,
    logger,
    guard: breaker.guard,
    onDeadLetters: observers.onDeadLetters,
    ...(observers.shards ? { observer: observers.shards } : {}),
  });
  // Retired shards are adopted on this thread: rare, short, and they share this thread's dedup store.
  const pipelineFor = (name: string) => new EmbeddedPipeline(optionsFor(name));
  const own = opts.name ?? env.INGEST_SHARD_NAME;
  const threaded = env.INGEST_SHARD_THREAD
    ? new ThreadedPipeline({ ...optionsFor(own), env, ...(opts.redis ? { redis: opts.redis } : {}) })
    : undefined;
  const pipeline: IngestPipeline = threaded ?? pipelineFor(own);
  await pipeline.start(opts.lockWaitMs);
  // Off the start path, at start and every few minutes: retired shards' tails and held feedback
  // (adopt.ts), one directory at a time.
  const stopping = new AbortController();
  const adoptRound = () =>
    adoptRetiredShards({
      signal: stopping.signal,
      dataDir: env.DATA_DIR,
      own,
      pipelineFor,
      adoptAfterMs: opts.adoptAfterMs ?? ADOPT_AFTER_IDLE_MS,
      settleAfterMs:
        Math.max(env.INGEST_JOIN_HORIZON_MS, env.INGEST_ALLOWED_LATENESS_MS) + env.INGEST_WINDOW_MS,
      logger,
    }).catch((err: unknown) => {
      logger.error({ err }, 'adopting retired ingest shards failed');
      return [];
    });
  const adoption = adoptRound();
  const rounds = (async () => {
    await adoption;
    while (!stopping.signal.aborted) {
      await sleep(ADOPT_INTERVAL_MS, undefined, { signal: stopping.signal }).catch(() => undefined);
      if (!stopping.signal.aborted) await adoptRound();
    }
  })();
  const front: IngestFront = {
    sink: pipeline,
    limits: {
      maxBatchEvents: env.INGEST_MAX_BATCH_EVENTS,
      maxDecompressedBytes: env.INGEST_MAX_DECOMPRESSED_BYTES,
      maxFutureSkewMs: env.INGEST_MAX_FUTURE_SKEW_MS,
    },
    buckets: createSourceLimiter(env, opts.redis, opts.logger),
    ...(observers.observer ? { observer: observers.observer } : {}),
  };
  return {
    front,
    pipeline,
    aggregates,
    checks: [
      threaded ? bothOpen(breaker.check(), threaded.breakerCheck(breaker.breaker.name)) : breaker.check(),
      { name: 'ingest-pipeline', check: async () => pipeline.health() },
    ],
    onPricesChanged: async () => {
      await prices.refresh();
      await threaded?.refreshPrices();
    },
    adoption,
    async stop() {
      stopping.abort();
      await rounds;
      await pipeline.stop();
      prices.close();
      breaker.breaker.shutdown();
    },
  };
}

/** One readiness check failing when either does (the breaker of each thread that commits). */
function bothOpen(a: ReadinessCheck, b: ReadinessCheck): ReadinessCheck {
  return {
    name: a.name,
    check: async () => {
      await a.check();
      await b.check();
    },
  };
}

/** The API's front door for the configured mode: Kafka producer (acks=all) or the embedded pipeline. */
export async function startIngestFront(opts: {
  env: Env;
  db: Db;
  logger: Logger;
  redis?: Redis;
  bus?: InvalidationBus;
  metrics?: Metrics;
}): Promise<{
  front: IngestFront;
  checks: ReadinessCheck[];
  onPricesChanged(): Promise<void>;
  stop(): Promise<void>;
}> {
  const { env } = opts;
  if (!env.KAFKA_BROKERS) return startEmbeddedIngest(opts);
  const { createKafka, KafkaSink } = await import('./adapters/kafka');
  const producer = createKafka(env.KAFKA_BROKERS, 'llmopt-api').producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const sink = new KafkaSink(producer, env.KAFKA_EVENTS_TOPIC);
  return {
    front: {
      sink,
      limits: {
        maxBatchEvents: env.INGEST_MAX_BATCH_EVENTS,
        maxDecompressedBytes: env.INGEST_MAX_DECOMPRESSED_BYTES,
        maxFutureSkewMs: env.INGEST_MAX_FUTURE_SKEW_MS,
      },
      buckets: createSourceLimiter(env, opts.redis, opts.logger),
      ...(opts.metrics ? { observer: ingestCounters(opts.metrics.registry) } : {}),
    },
    checks: [sink.readiness()],
    // The stream process prices events; it refreshes its own book from the table.
    onPricesChanged: async () => undefined,
    async stop() {
      sink.close();
      await producer.disconnect();
    },
  };
}
