/**
 * The embedded pipeline with its shard in a worker thread (INGEST_SHARD_THREAD=true), its database
 * restarted under load, on a private PostgreSQL: the write-ahead log keeps acknowledging, /readyz names
 * the commit breaker that opened in the worker thread, every acknowledged event is counted exactly
 * once after recovery, and a SIGTERM stops the process cleanly within its budget.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { migrate } from '../../adapters/db/migrate';
import { testEnv, uniqueName } from '../helpers/env';
import { startPrivatePostgres } from '../helpers/private-services';
import {
  awaitAcked,
  awaitNotReadyNaming,
  baseEnv,
  cleanups,
  countAfterRecovery,
  createKey,
  scratchDir,
  spawnReady,
  startIngestLoad,
  unexpectedAnswers,
} from './harness';

const scratch = scratchDir('wal-thread');
const cleanup = cleanups();
afterAll(() => cleanup.run().finally(scratch.remove));

describe('shard thread, PostgreSQL restarted', () => {
  it('counts every acknowledged event once, shows the open breaker in /readyz, stops cleanly', async () => {
    const postgres = await startPrivatePostgres();
    cleanup.add(() => postgres.destroy());
    await migrate(postgres.url);
    const shard = uniqueName('faults-thread');
    const api = await spawnReady('api/main.ts', {
      ...baseEnv(scratch.dir),
      INGEST_SHARD_THREAD: 'true',
      GRPC_PORT: '0',
      INGEST_SHARD_NAME: shard,
      INGEST_FLUSH_INTERVAL_MS: '200',
      DATABASE_URL: postgres.url,
      TEMPORAL_ADDRESS: testEnv.TEMPORAL_ADDRESS,
    });
    cleanup.add(api.stop);
    const key = await createKey(postgres.url, ['ingest']);
    const load = startIngestLoad({ api: api.url, key, total: 2_000, batch: 50, senders: 2, pauseMs: 40 });
    await awaitAcked(load, 400);

    await postgres.stop();
    // The breaker lives in the worker thread; the API thread's /readyz reports it by its name.
    const notReady = await awaitNotReadyNaming(api.url, 'ingest-database');
    await postgres.start();

    // Recovered on its own, every acknowledged event once, resends of acknowledged ones included.
    const counted = await countAfterRecovery({
      shardLike: `wal:${shard}`,
      databaseUrl: postgres.url,
      load,
      processes: [api],
    });
    expect([counted.acked, counted.stored, counted.storedAfterResend]).toEqual([2_000, 2_000, 2_000]);
    expect(notReady.failing).toContain('ingest-database');
    expect(unexpectedAnswers(load)).toEqual([]);
    await api.stop();
    expect([api.proc.child.exitCode, api.proc.child.signalCode]).toEqual([0, null]);
  });
});
