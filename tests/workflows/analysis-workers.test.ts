/**
 * Independent workers: two analysis worker processes (the real entrypoint, workers/analysis.ts, with
 * WORKER_MAX_CONCURRENT_ACTIVITIES=1) polling one task queue on the real dev server share the analysis
 * activities of concurrent optimization cycles; the cycles' histories show both worker identities.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TargetPolicy } from '../../domain/model';
import { WORKFLOW_TYPES, type TaskQueues } from '../../domain/names';
import { createPool, type Db } from '../../adapters/db/pool';
import { createTargetsRepo } from '../../adapters/db/repos/targets';
import { createLogger } from '../../platform/logger';
import { freePort } from '../../platform/net';
import { installRuntime, workflowBundlePath } from '../../platform/temporal';
import type { CycleInput } from '../../workflows/contracts';
import { eventually, testEnv, uniqueName } from '../helpers/env';
import { spawnEntrypoint, type Spawned } from '../helpers/process';
import { ARMS } from '../helpers/rollout';

let db: Db;
let native: NativeConnection;
let client: Client;
let orchestration: Worker;
let run: Promise<void>;
const procs: Spawned[] = [];
const taskQueues: TaskQueues = {
  orchestration: uniqueName('share-o'),
  analysis: uniqueName('share-a'),
  integrations: uniqueName('share-i'),
};

beforeAll(async () => {
  installRuntime(createLogger('test', testEnv.LOG_LEVEL));
  db = createPool(testEnv.DATABASE_URL, 5);
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    procs.push(
      spawnEntrypoint('workers/analysis.ts', {
        TEMPORAL_ADDRESS: testEnv.TEMPORAL_ADDRESS,
        DATABASE_URL: testEnv.DATABASE_URL,
        TASK_QUEUE_ANALYSIS: taskQueues.analysis,
        WORKER_MAX_CONCURRENT_ACTIVITIES: '1',
        TEMPORAL_CORE_METRICS: 'false',
        HEALTH_PORT: String(port),
        LOG_LEVEL: 'warn',
      }),
    );
    await eventually(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.ok, {
      timeoutMs: 90_000,
      what: `analysis worker ${i + 1} to be ready`,
    });
  }
  native = await NativeConnection.connect({ address: testEnv.TEMPORAL_ADDRESS });
  orchestration = await Worker.create({
    connection: native,
    namespace: testEnv.TEMPORAL_NAMESPACE,
    taskQueue: taskQueues.orchestration,
    workflowBundle: { codePath: await workflowBundlePath() },
  });
  run = orchestration.run();
  client = new Client({
    connection: await Connection.connect({ address: testEnv.TEMPORAL_ADDRESS }),
    namespace: testEnv.TEMPORAL_NAMESPACE,
  });
}, 180_000);

afterAll(async () => {
  for (const p of procs) p.child.kill('SIGTERM');
  await Promise.all(procs.map((p) => p.exited));
  orchestration?.shutdown();
  await run;
  await native?.close();
  await client?.connection.close();
  await db?.end();
});

describe('analysis workers', () => {
  it(
    'two analysis worker processes on one queue both take tasks of concurrent cycles',
    { timeout: 120_000 },
    async () => {
      const targets = createTargetsRepo(db);
      const names = Array.from({ length: 8 }, () => uniqueName('share-bot'));
      for (const name of names) {
        await targets.create({
          name,
          description: '',
          policy: TargetPolicy.parse({}),
          arms: ARMS,
          segments: ['default'],
          weights: { big: 10000 },
        });
      }
      const ids = names.map((target) => uniqueName(`cycle-${target}`));
      await Promise.all(
        names.map((target, i) =>
          client.workflow.execute(WORKFLOW_TYPES.optimizationCycle, {
            workflowId: ids[i]!,
            taskQueue: taskQueues.orchestration,
            args: [{ target, trigger: 'api', taskQueues } satisfies CycleInput],
          }),
        ),
      );
      const identities = new Set<string>();
      for (const id of ids) {
        const history = await client.workflow.getHandle(id).fetchHistory();
        for (const e of history.events ?? [])
          if (e.activityTaskStartedEventAttributes?.identity)
            identities.add(e.activityTaskStartedEventAttributes.identity);
      }
      const pids = procs.map((p) => String(p.child.pid));
      expect([...identities].map((i) => i.split('@')[0]).sort()).toEqual([...pids].sort());
    },
  );
});
