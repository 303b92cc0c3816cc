/**
 * The CLI under test, run as a user runs it: `node cli/llmopt/bin/llmopt.mjs …` as a child process
 * against a live API served over HTTP by a test system (tests/helpers/system.ts). Its workers are this
 * file's own: the real orchestration activities, and the real analysis activities with the canary
 * judge's verdicts (and, where a test says so, a cycle's decisions) scripted, so a rollout can be
 * watched to promotion in seconds without simulated traffic.
 */
// First: zod-openapi must extend zod before any domain schema is built.
import '@hono/zod-openapi';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NativeConnection, Worker } from '@temporalio/worker';
import { listenApi } from '../../api/server';
import { createAnalysisActivities } from '../../activities/analysis';
import { createOrchestrationActivities } from '../../activities/orchestration';
import { workflowBundlePath } from '../../platform/temporal';
import { testEnv } from '../helpers/env';
import { BIN, runCli, type CliRun } from './run';
import { newAnalysisScript, scriptedAnalysisActivities, type AnalysisScript } from '../helpers/rollout';
import { startTestSystem, type TestSystem } from '../helpers/system';

export { BIN, runCli, type CliRun };

export interface CliSystem {
  sys: TestSystem;
  /** Base URL of the API over HTTP. */
  api: string;
  /** Verdicts, SLO outcomes and decisions the scripted analysis answers (pass, ok and the real ones by default). */
  script: AnalysisScript;
  /** llmopt against this API with the admin key, unless `env` says otherwise. */
  cli(args: string[], env?: Record<string, string | undefined>, input?: string): Promise<CliRun>;
  stop(): Promise<void>;
}

export async function startCliSystem(): Promise<CliSystem> {
  const sys = await startTestSystem({ workers: false });
  const c = sys.container;
  const script = newAnalysisScript();
  const connection = await NativeConnection.connect({ address: testEnv.TEMPORAL_ADDRESS });
  const workers = [
    await Worker.create({
      connection,
      namespace: testEnv.TEMPORAL_NAMESPACE,
      taskQueue: sys.taskQueues.orchestration,
      workflowBundle: { codePath: await workflowBundlePath() },
      activities: createOrchestrationActivities(c, { notify: false }),
    }),
    await Worker.create({
      connection,
      namespace: testEnv.TEMPORAL_NAMESPACE,
      taskQueue: sys.taskQueues.analysis,
      activities: scriptedAnalysisActivities(createAnalysisActivities(c), script),
    }),
  ];
  const runs = workers.map((w) => w.run());
  const server: Server = await listenApi(sys.app, 0, '127.0.0.1');
  const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    sys,
    api,
    script,
    cli: (args, env = {}, input) =>
      runCli(args, { LLMOPT_API_URL: api, LLMOPT_API_KEY: sys.adminKey, ...env }, input),
    async stop() {
      // Runs left open would answer "no worker" to whoever finds them in the shared namespace.
      const query = `TaskQueue="${sys.taskQueues.orchestration}" AND ExecutionStatus="Running"`;
      for await (const run of sys.client.workflow.list({ query }))
        await sys.client.workflow
          .getHandle(run.workflowId)
          .terminate('the test file ended')
          .catch(() => undefined);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await Promise.all(runs);
      await connection.close();
      await sys.stop();
    },
  };
}
