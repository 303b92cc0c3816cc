/**
 * Embedded ingest pipelines for the data-plane tests, over the real PostgreSQL and (optionally) Redis:
 * started in a DATA_DIR under a shard name, fed and drained, and all stopped after the file.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import type { TelemetryEvent } from '../../../domain/events';
import { createPool, type Db } from '../../../adapters/db/pool';
import { startEmbeddedIngest, type EmbeddedIngest } from '../../../pipeline';
import { createLogger } from '../../../platform/logger';
import type { Metrics } from '../../../platform/metrics';
import { testEnv } from '../../helpers/env';

export interface PipelineOptions {
  /** Share the join index and dedup through Redis (default true). */
  redis?: boolean;
  env?: Partial<typeof testEnv>;
  lockWaitMs?: number;
  adoptAfterMs?: number;
  /** Where refusals and dead letters are counted. */
  metrics?: Metrics;
}

/** Registers the file's hooks; returns how to start, feed and stop pipelines. */
export function usePipelines() {
  const logger = createLogger('test', testEnv.LOG_LEVEL);
  const running = new Set<EmbeddedIngest>();
  const shared = {} as { db: Db; redis: Redis };
  beforeAll(() => {
    shared.db = createPool(testEnv.DATABASE_URL, 5);
    shared.redis = new Redis(testEnv.REDIS_URL!);
  });
  afterAll(async () => {
    for (const p of running) await p.stop();
    shared.redis?.disconnect();
    await shared.db?.end();
  });
  return {
    shared,
    async start(name: string, dataDir: string, opts: PipelineOptions = {}): Promise<EmbeddedIngest> {
      const p = await startEmbeddedIngest({
        env: { ...testEnv, DATA_DIR: dataDir, INGEST_FLUSH_INTERVAL_MS: 100, ...opts.env },
        db: shared.db,
        logger,
        name,
        ...(opts.redis !== false ? { redis: shared.redis } : {}),
        ...(opts.lockWaitMs !== undefined ? { lockWaitMs: opts.lockWaitMs } : {}),
        ...(opts.adoptAfterMs !== undefined ? { adoptAfterMs: opts.adoptAfterMs } : {}),
        ...(opts.metrics ? { metrics: opts.metrics } : {}),
      });
      running.add(p);
      return p;
    },
    async stop(p: EmbeddedIngest): Promise<void> {
      running.delete(p);
      await p.stop();
    },
    async send(p: EmbeddedIngest, events: TelemetryEvent[]): Promise<void> {
      await p.pipeline.accept(events.map((event) => ({ event, ts: Date.parse(event.timestamp) })));
      await p.pipeline.drain();
    },
  };
}
