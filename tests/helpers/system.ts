/**
 * The system under test, in-process, over the real services: a pg pool, a Temporal client, workers on
 * task queues unique to the calling test file, and the API app. Tests call app.request() on it.
 */
import { fileURLToPath } from 'node:url';
import { Worker, NativeConnection } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { createApp } from '../../api/app';
import type { ApiDeps } from '../../api/lib/types';
import { createAnalysisActivities } from '../../activities/analysis';
import type { TaskQueues } from '../../domain/names';
import { createPool, ping } from '../../infra/db/pool';
import { createDecisionsRepo } from '../../infra/db/repos/decisions';
import { createTargetsRepo } from '../../infra/db/repos/targets';
import { createLogger } from '../../infra/logger';
import { createMetrics } from '../../infra/metrics';
import { installRuntime, workflowBundlePath } from '../../infra/temporal';
import { testEnv, uniqueName } from './env';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

export interface TestSystem {
  deps: ApiDeps;
  app: ReturnType<typeof createApp>;
  client: Client;
  taskQueues: TaskQueues;
  stop(): Promise<void>;
}

export async function startTestSystem(opts: { workers?: boolean } = {}): Promise<TestSystem> {
  const logger = createLogger('test', testEnv.LOG_LEVEL);
  installRuntime(logger);
  const suffix = uniqueName('tq');
  const taskQueues: TaskQueues = {
    orchestration: `optimizer-orchestration-${suffix}`,
    analysis: `optimizer-analysis-${suffix}`,
    integrations: `optimizer-integrations-${suffix}`,
  };
  const db = createPool(testEnv.DATABASE_URL, 10);
  const connection = await Connection.connect({ address: testEnv.TEMPORAL_ADDRESS });
  const client = new Client({ connection, namespace: testEnv.TEMPORAL_NAMESPACE });
  const repos = { targets: createTargetsRepo(db), decisions: createDecisionsRepo(db) };
  const metrics = createMetrics('test');
  const deps: ApiDeps = {
    env: testEnv,
    logger,
    metrics,
    db,
    temporal: client,
    taskQueues,
    repos,
    checks: [{ name: 'postgres', check: () => ping(db) }],
    metricsSources: [],
  };
  const app = createApp(deps);

  const runs: Promise<void>[] = [];
  const workers: Worker[] = [];
  let nativeConnection: NativeConnection | undefined;
  if (opts.workers !== false) {
    nativeConnection = await NativeConnection.connect({ address: testEnv.TEMPORAL_ADDRESS });
    const orchestration = await Worker.create({
      connection: nativeConnection,
      namespace: testEnv.TEMPORAL_NAMESPACE,
      taskQueue: taskQueues.orchestration,
      workflowBundle: { codePath: await workflowBundlePath() },
    });
    const analysis = await Worker.create({
      connection: nativeConnection,
      namespace: testEnv.TEMPORAL_NAMESPACE,
      taskQueue: taskQueues.analysis,
      activities: createAnalysisActivities({ ...repos, logger }),
    });
    workers.push(orchestration, analysis);
    for (const w of workers) runs.push(w.run());
  }

  return {
    deps,
    app,
    client,
    taskQueues,
    async stop() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await Promise.all(runs);
      await nativeConnection?.close();
      await connection.close();
      await db.end();
    },
  };
}

/** JSON request helper over app.request(). */
export async function call(
  app: TestSystem['app'],
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await app.request(path, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // non-JSON bodies (metrics, docs) stay text
  }
  return { status: res.status, body: parsed, headers: res.headers };
}
