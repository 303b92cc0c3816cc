/**
 * The Temporal server restarted during a canary rollout's bake, on a private dev server whose state is a
 * SQLite file (`--db-filename`), so the shared server keeps serving the other test files: the bake timer
 * survives the restart, the rollout completes once with one config version per stage, and the real
 * orchestration worker process reconnects on its own (never restarted).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Db } from '../../adapters/db/pool';
import { createRolloutsRepo } from '../../adapters/db/repos/rollouts';
import { unavailableDependency } from '../../platform/unavailable';
import { eventually, testEnv } from '../helpers/env';
import { startPrivateTemporal, type PrivateService } from '../helpers/private-services';
import {
  awaitNotReadyNaming,
  awaitReady,
  cleanups,
  ONE_VERSION_PER_STAGE,
  prepareRollout,
  scratchDir,
} from './harness';

let temporal: PrivateService & { address: string };
let db: Db;
const scratch = scratchDir('temporal');
const cleanup = cleanups();

beforeAll(async () => {
  temporal = await startPrivateTemporal();
  db = createPool(testEnv.DATABASE_URL, 2);
});

afterAll(async () => {
  await cleanup.run();
  await temporal?.destroy();
  await db?.end();
  scratch.remove();
});

describe('Temporal server restarted', () => {
  it(
    'during a bake: the timer survives, the rollout completes once, the worker reconnects',
    { timeout: 180_000 },
    async () => {
      const rollout = await prepareRollout({
        dataDir: scratch.dir,
        databaseUrl: testEnv.DATABASE_URL,
        temporalAddress: temporal.address,
        // Long enough that the first bake's timer is still pending when the server comes back.
        firstBakeSeconds: 10,
        cleanup,
      });
      const { worker, judge, workflowId } = rollout;
      await rollout.start();
      const rollouts = createRolloutsRepo(db);
      await eventually(async () => (await rollouts.get(workflowId))?.weights?.small === 2000, {
        timeoutMs: 60_000,
        what: 'stage 1 to bake',
      });

      await temporal.stop();
      const notReady = await awaitNotReadyNaming(worker.url, 'temporal');
      // What a caller of the API would meet now: an error the API answers as 503 naming temporal.
      const failed = await judge.client.connection
        .withDeadline(Date.now() + 2_000, () => judge.client.workflow.getHandle(workflowId).describe())
        .catch((err: unknown) => err);
      await temporal.start();

      const outcome = await rollout.outcome();
      expect(outcome.state).toBe('promoted');
      expect(outcome.versions).toEqual(ONE_VERSION_PER_STAGE);
      expect(outcome.rollouts).toEqual([{ id: workflowId, state: 'promoted' }]);
      // Each stage judged once: the restart replayed nothing the workflow had already done.
      expect(judge.calls).toBe(2);
      expect(notReady.failing).toContain('temporal');
      expect(unavailableDependency(failed)).toBe('temporal');
      await awaitReady(worker.url);
      expect(worker.proc.child.exitCode).toBeNull();
    },
  );
});
