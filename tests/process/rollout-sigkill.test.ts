/**
 * Durability: the orchestration worker is a real child process (node --import tsx workers/orchestration.ts)
 * SIGKILLed once during a bake and once while a stage's judge activity is in flight; restarted each time,
 * the rollout reaches the same outcome, with exactly the routing-config versions an undisturbed run writes.
 */
import { Worker, NativeConnection } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Verdict } from '../../domain/intelligence/judge';
import { WORKFLOW_TYPES, type TaskQueues } from '../../domain/names';
import { createPool, type Db } from '../../adapters/db/pool';
import { createDecisionsRepo } from '../../adapters/db/repos/decisions';
import { createRolloutsRepo } from '../../adapters/db/repos/rollouts';
import { createTargetsRepo } from '../../adapters/db/repos/targets';
import type { RolloutResult } from '../../workflows/messages';
import { eventually, testEnv, uniqueName } from '../helpers/env';
import { spawnEntrypoint, type Spawned } from '../helpers/process';
import { seedApprovedRollout, seedTarget } from '../helpers/rollout';

let db: Db;
let client: Client;
let native: NativeConnection;
let analysis: Worker;
let analysisRun: Promise<void>;
const taskQueues: TaskQueues = {
  orchestration: uniqueName('kill-o'),
  analysis: uniqueName('kill-a'),
  integrations: uniqueName('kill-i'),
};
let judgeCalls = 0;
/** Set by the test: the judge holds its answer until this resolves (an activity in flight). */
let holdJudge: Promise<void> | null = null;
let judgeEntered: () => void = () => undefined;
const running: Spawned[] = [];

function startOrchestrationWorker(): Spawned {
  const proc = spawnEntrypoint('workers/orchestration.ts', {
    TEMPORAL_ADDRESS: testEnv.TEMPORAL_ADDRESS,
    DATABASE_URL: testEnv.DATABASE_URL,
    LOG_LEVEL: 'info',
    TEMPORAL_CORE_METRICS: 'false',
    TASK_QUEUE_ORCHESTRATION: taskQueues.orchestration,
    TASK_QUEUE_ANALYSIS: taskQueues.analysis,
    TASK_QUEUE_INTEGRATIONS: taskQueues.integrations,
  });
  running.push(proc);
  return proc;
}

async function kill(proc: Spawned): Promise<void> {
  proc.child.kill('SIGKILL');
  expect((await proc.exited).signal).toBe('SIGKILL');
}

beforeAll(async () => {
  db = createPool(testEnv.DATABASE_URL, 5);
  native = await NativeConnection.connect({ address: testEnv.TEMPORAL_ADDRESS });
  analysis = await Worker.create({
    connection: native,
    namespace: testEnv.TEMPORAL_NAMESPACE,
    taskQueue: taskQueues.analysis,
    activities: {
      async judgeStage(): Promise<Verdict> {
        judgeCalls++;
        if (holdJudge) {
          judgeEntered();
          await holdJudge;
        }
        return {
          outcome: 'pass',
          reasons: ['scripted pass'],
          metrics: [],
          samples: { baseline: 500, canary: 500 },
        };
      },
    },
  });
  analysisRun = analysis.run();
  const connection = await Connection.connect({ address: testEnv.TEMPORAL_ADDRESS });
  client = new Client({ connection, namespace: testEnv.TEMPORAL_NAMESPACE });
});

afterAll(async () => {
  for (const p of running)
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  analysis?.shutdown();
  await analysisRun;
  await native?.close();
  await client?.connection.close();
  await db?.end();
});

describe('rollout durability under SIGKILL', () => {
  it(
    'reaches the same outcome after the orchestration worker is killed during a bake and during an activity',
    { timeout: 240_000 },
    async () => {
      const targets = createTargetsRepo(db);
      const rollouts = createRolloutsRepo(db);
      const target = await seedTarget(
        { targets },
        {
          prefix: 'kill-bot',
          policy: {
            rollout: {
              preset: 'custom',
              stages: [
                { canary_bps: 2000, bake_seconds: 4 },
                { canary_bps: 10000, bake_seconds: 2 },
              ],
            },
          },
        },
      );
      const { input, workflowId: id } = await seedApprovedRollout(
        { targets, decisions: createDecisionsRepo(db) },
        target,
        taskQueues,
        { overrides: { maxBakeExtensions: 0, minSamplesPerArm: 100 } },
      );

      const first = startOrchestrationWorker();
      await client.workflow.start(WORKFLOW_TYPES.canaryRollout, {
        workflowId: id,
        taskQueue: taskQueues.orchestration,
        args: [input],
      });
      // Stage 1 is applied and baking: kill the worker in the middle of the durable timer.
      await eventually(async () => (await rollouts.get(id))?.weights?.small === 2000, {
        timeoutMs: 120_000,
        what: 'stage 1 to bake',
      });
      await kill(first);

      // The next worker picks the timer up; kill it while the stage-1 judge activity is in flight.
      let release!: () => void;
      holdJudge = new Promise<void>((r) => (release = r));
      const entered = new Promise<void>((r) => (judgeEntered = r));
      const second = startOrchestrationWorker();
      await entered;
      await kill(second);
      holdJudge = null;
      release();

      startOrchestrationWorker();
      const result = await client.workflow.getHandle<() => Promise<RolloutResult>>(id).result();
      expect(result.state).toBe('promoted');
      const history = (await targets.configHistory(target, 'default', 10)).reverse();
      // Exactly the versions an undisturbed run writes: no stage applied twice, none skipped.
      expect(history.map((c) => [c.version, c.weights.small ?? 0])).toEqual([
        [1, 0],
        [2, 2000],
        [3, 10000],
      ]);
      expect(judgeCalls).toBe(2);
      expect((await rollouts.get(id))!.state).toBe('promoted');
    },
  );
});
