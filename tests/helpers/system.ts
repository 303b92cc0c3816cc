/**
 * The system under test, in-process, over the real services: a pg pool, a Temporal client, workers on
 * task queues unique to the calling test file, and the API app. Tests call app.request() on it.
 */
import { fileURLToPath } from 'node:url';
import { Worker, NativeConnection } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { createApp } from '../../api/app';
import type { ApiDeps } from '../../api/lib/types';
import { compose, createServices, type ContainerWithTemporal } from '../../app/compose';
import { createAnalysisActivities } from '../../activities/analysis';
import { createOrchestrationActivities } from '../../activities/orchestration';
import type { TaskQueues } from '../../domain/names';
import { createLogger } from '../../platform/logger';
import type { Role } from '../../api/lib/permissions';
import { createMetrics } from '../../platform/metrics';
import { installRuntime, workflowBundlePath } from '../../platform/temporal';
import { startEmbeddedIngest, type EmbeddedIngest } from '../../pipeline';
import type { Redis } from 'ioredis';
import { testEnv, uniqueName } from './env';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

export interface TestSystem {
  /** The embedded ingest pipeline when started with `ingest`. */
  ingest?: EmbeddedIngest;
  /** An admin API key, which call(sys, …) sends unless told otherwise. */
  adminKey: string;
  /** Creates an API key with exactly these roles (for 403 tests). */
  keyFor(...roles: Role[]): Promise<string>;
  /** The system's composition root (app/compose.ts): what its workers' activities are built from. */
  container: ContainerWithTemporal;
  /** What the app was built from: the container, and the API's own additions (ingest, checks). */
  deps: ApiDeps;
  app: ReturnType<typeof createApp>;
  client: Client;
  taskQueues: TaskQueues;
  /** The API steers runs on another Temporal server from now on (a time-skipping test environment). */
  steerWith(client: Client): void;
  stop(): Promise<void>;
}

export async function startTestSystem(
  opts: {
    workers?: boolean;
    /** Serve routing configs through the three-tier cache (real Redis from REDIS_URL) as api/main.ts does. */
    cache?: boolean;
    /** Run the embedded ingest pipeline (WAL in DATA_DIR under this name, Redis dedup from REDIS_URL when `redis` is given). */
    ingest?: { name: string; redis?: Redis; env?: Partial<ApiDeps['env']> };
    /** Settings over the test run's (a database of the file's own, say). */
    env?: Partial<ApiDeps['env']>;
  } = {},
): Promise<TestSystem> {
  const logger = createLogger('test', testEnv.LOG_LEVEL);
  installRuntime(logger);
  const suffix = uniqueName('tq');
  const taskQueues: TaskQueues = {
    orchestration: `optimizer-orchestration-${suffix}`,
    analysis: `optimizer-analysis-${suffix}`,
    integrations: `optimizer-integrations-${suffix}`,
  };
  // The composition of api/main.ts, on task queues of this test file (the schema is migrated once, globally).
  const env = { ...testEnv, ...opts.env, ...opts.ingest?.env };
  const c = await compose(env, {
    logger,
    metrics: createMetrics('test'),
    poolMax: 10,
    temporal: true,
    taskQueues,
    ...(opts.cache ? { aggregatesCache: true } : {}),
  });
  // API-key revocations and config deletions reach other replicas through the bus, as in production.
  await c.bus?.ready();
  const deps: ApiDeps = { ...c, checks: [...c.checks], metricsSources: [] };
  let ingest: EmbeddedIngest | undefined;
  if (opts.ingest) {
    ingest = await startEmbeddedIngest({
      env,
      db: c.db,
      logger,
      name: opts.ingest.name,
      metrics: c.metrics,
      ...(opts.ingest.redis ? { redis: opts.ingest.redis } : {}),
      ...(c.bus ? { bus: c.bus } : {}),
    });
    deps.ingest = ingest.front;
    deps.dataPlane = { onPricesChanged: ingest.onPricesChanged };
    deps.checks.push(...ingest.checks);
  }
  const app = createApp(deps);
  // Auth is on for every route: the system seeds an admin key that call() sends unless told otherwise.
  const adminKey = (
    await c.repos.apiKeys.create({
      name: `test admin ${suffix}`,
      roles: ['admin'],
      createdBy: 'test-system',
    })
  ).key;

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
      // No integrations worker here: published events are stored, not delivered.
      activities: createOrchestrationActivities(c, { notify: false }),
    });
    const analysis = await Worker.create({
      connection: nativeConnection,
      namespace: testEnv.TEMPORAL_NAMESPACE,
      taskQueue: taskQueues.analysis,
      activities: createAnalysisActivities(c),
    });
    workers.push(orchestration, analysis);
    for (const w of workers) runs.push(w.run());
  }

  return {
    container: c,
    deps,
    ...(ingest ? { ingest } : {}),
    adminKey,
    keyFor: async (...roles: Role[]) =>
      (
        await c.repos.apiKeys.create({
          name: `test ${roles.join('+')}`,
          roles,
          createdBy: 'test-system',
        })
      ).key,
    app,
    client: c.temporal,
    taskQueues,
    steerWith(client) {
      deps.temporal = client;
      // The adapters took their service objects when the app was built: renew those objects in place.
      const fresh = createServices({ ...c, temporal: client });
      for (const k of Object.keys(fresh) as (keyof typeof fresh)[]) Object.assign(deps.services[k], fresh[k]);
    },
    async stop() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await Promise.all(runs);
      await nativeConnection?.close();
      await ingest?.stop();
      await c.close();
    },
  };
}

/** What call() sends to: an app, and the credential sent by default (a test system passes its admin key). */
export interface CallTarget {
  app: TestSystem['app'];
  adminKey?: string;
}

/**
 * JSON request helper over app.request(). It sends `to.adminKey` (a test system's admin key when `to`
 * is the system) unless `headers` carry their own `authorization` or `x-api-key`, or `opts.auth` says
 * otherwise: `false` sends no credential, a string is sent as the bearer credential (an API key or a
 * JWT). An app of a test's own (`{ app }`) sends none by default.
 */
export async function call(
  to: CallTarget,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  opts: { auth?: string | false } = {},
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read whatever JSON a route answers
): Promise<{ status: number; body: any; headers: Headers }> {
  const own = Object.keys(headers).some((h) => ['authorization', 'x-api-key'].includes(h.toLowerCase()));
  const credential = opts.auth === false || own ? undefined : (opts.auth ?? to.adminKey);
  const res = await to.app.request(path, {
    method,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(credential ? { authorization: `Bearer ${credential}` } : {}),
      ...headers,
    },
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
