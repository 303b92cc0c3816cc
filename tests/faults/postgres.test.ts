/**
 * PostgreSQL restarted (`pg_ctl stop -m fast`, then started again) under the real processes, on a
 * private PostgreSQL so the shared one keeps serving the other test files:
 * - during ingestion in embedded WAL mode: every acknowledged event is counted exactly once, /readyz
 *   names postgres while it is down, and the API recovers without a restart;
 * - during a rollout's routing-config write: the rollout completes once, with exactly one config version
 *   per stage (Temporal retries the activity; the write is idempotent).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../adapters/db/migrate';
import { eventually, testEnv, uniqueName } from '../helpers/env';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-services';
import {
  awaitAcked,
  awaitNotReadyNaming,
  awaitReady,
  baseEnv,
  cleanups,
  countAfterRecovery,
  createKey,
  ONE_VERSION_PER_STAGE,
  scratchDir,
  spawnReady,
  startIngestLoad,
  stopPostgresDuringStageOneWrite,
  storedCount,
  unexpectedAnswers,
} from './harness';

let postgres: PrivatePostgres;
const scratch = scratchDir('postgres');
const cleanup = cleanups();

beforeAll(async () => {
  postgres = await startPrivatePostgres();
  await migrate(postgres.url);
});

afterAll(async () => {
  await cleanup.run();
  await postgres?.destroy();
  scratch.remove();
});

describe('PostgreSQL restarted', () => {
  it('during embedded ingestion: every acknowledged event counted once, /readyz names postgres, the API recovers', async () => {
    const shard = uniqueName('faults-pg');
    const api = await spawnReady('api/main.ts', {
      ...baseEnv(scratch.dir),
      DATABASE_URL: postgres.url,
      TEMPORAL_ADDRESS: testEnv.TEMPORAL_ADDRESS,
      INGEST_SHARD_NAME: shard,
      INGEST_FLUSH_INTERVAL_MS: '200',
    });
    cleanup.add(api.stop);
    const key = await createKey(postgres.url, ['ingest']);
    const load = startIngestLoad({ api: api.url, key, total: 3_000, batch: 50, senders: 2, pauseMs: 40 });
    await awaitAcked(load, 600);
    const before = await storedCount(postgres.url, load.target);
    // A credential never used yet is not in the verified cache: checking it needs the database.
    const coldKey = await createKey(postgres.url, ['ingest']);
    const readConfig = () =>
      fetch(`${api.url}/v1/targets/${load.target}/config?segment=default`, {
        headers: { authorization: `Bearer ${coldKey}` },
      });

    await postgres.stop();
    const downAt = Date.now();
    const notReady = await awaitNotReadyNaming(api.url, 'postgres');
    await eventually(async () => load.answers.filter((a) => a.at > downAt).length >= 10, {
      what: 'ingest answers while postgres is down',
    });
    const refused = await readConfig();
    const refusal = (await refused.json()) as { dependency?: string };
    const acknowledgedWhileDown = load.answers.filter((a) => a.at > downAt && a.status === 202).length;
    await postgres.start();

    const counted = await countAfterRecovery({
      processes: [api],
      load,
      databaseUrl: postgres.url,
      shardLike: `wal:${shard}`,
    });
    expect(counted).toMatchObject({ acked: 3_000, stored: 3_000, storedAfterResend: 3_000 });
    expect(before).toBeLessThan(3_000);
    // What needs the database is refused for now, naming it, and answered once it is back.
    expect([refused.status, refusal.dependency, refused.headers.get('retry-after')]).toEqual([
      503,
      'postgres',
      '2',
    ]);
    expect((await readConfig()).status).toBe(404);
    expect(notReady.failing).toContain('postgres');
    // The write-ahead log keeps acknowledging while the database is away: it is durable on its own.
    expect(acknowledgedWhileDown).toBeGreaterThan(0);
    expect(unexpectedAnswers(load)).toEqual([]);
    // Recovered on its own: the same process, never restarted.
    expect(api.proc.child.exitCode).toBeNull();
  });

  it(
    "during a rollout's routing-config write: the rollout completes once, one version per stage",
    { timeout: 180_000 },
    async () => {
      const { rollout, notReady } = await stopPostgresDuringStageOneWrite({
        dataDir: scratch.dir,
        postgres,
        cleanup,
      });
      const { worker, workflowId } = rollout;
      await postgres.start();

      const outcome = await rollout.outcome();
      expect(outcome.state).toBe('promoted');
      // Exactly the versions an undisturbed run writes: no stage applied twice, none skipped.
      expect(outcome.versions).toEqual(ONE_VERSION_PER_STAGE);
      expect(outcome.rollouts).toEqual([{ id: workflowId, state: 'promoted' }]);
      expect(notReady.failing).toContain('postgres');
      await awaitReady(worker.url);
      expect(worker.proc.child.exitCode).toBeNull();
    },
  );
});
