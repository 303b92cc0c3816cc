/**
 * The system as it runs in production, as real processes over the real services: the API process
 * (api/main.ts, HTTP ingest into its embedded WAL pipeline, window aggregates committed to PostgreSQL),
 * the orchestration and analysis worker processes on the services' Temporal dev server, all on task
 * queues, ports, a WAL and a shard of their own so concurrent test files never meet. Tests talk to it
 * over HTTP and through a Temporal client, as ops and applications do.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { TaskQueues } from '../../domain/names';
import { apiClient } from '../../cli/demo';
import type { Db } from '../../adapters/db/pool';
import { compose } from '../../app/compose';
import { freePort } from '../../platform/net';
import { eventually, testEnv, uniqueName } from './env';
import { spawnEntrypoint, type Spawned } from './process';

export interface LiveSystem {
  /** Base URL of the API process. */
  api: string;
  /** An admin API key (sent by `call`). */
  adminKey: string;
  client: Client;
  db: Db;
  taskQueues: TaskQueues;
  processes: Partial<Record<'api' | 'orchestration' | 'analysis' | 'integrations', Spawned>> &
    Record<'api' | 'orchestration' | 'analysis', Spawned>;
  /** Where each process serves /healthz, /readyz and /metrics (the API on its own port). */
  ports: Record<'api' | 'orchestration' | 'analysis' | 'integrations', number>;
  /** JSON over HTTP to the API process with the admin key. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read whatever JSON a route answers
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

export async function startLiveSystem(
  opts: {
    /** Extra environment of the API process (e.g. ingest window width). */
    apiEnv?: Record<string, string>;
    /** Extra environment of the worker processes (e.g. where their traces go). */
    workerEnv?: Record<string, string>;
    /**
     * Also run the integrations worker (webhook deliveries, Slack, GitHub, Jira), allowed to deliver to
     * loopback receivers of the test.
     */
    integrations?: boolean;
  } = {},
): Promise<LiveSystem> {
  const suffix = uniqueName('live');
  const taskQueues: TaskQueues = {
    orchestration: `orchestration-${suffix}`,
    analysis: `analysis-${suffix}`,
    integrations: `integrations-${suffix}`,
  };
  const dataDir = mkdtempSync(join(tmpdir(), 'llmopt-live-'));
  const common = {
    NODE_ENV: 'test',
    TEMPORAL_ADDRESS: testEnv.TEMPORAL_ADDRESS,
    TEMPORAL_NAMESPACE: testEnv.TEMPORAL_NAMESPACE,
    DATABASE_URL: testEnv.DATABASE_URL,
    // Routing-config versions the orchestration worker writes reach the API's cache through Redis pub/sub.
    REDIS_URL: testEnv.REDIS_URL,
    // The key the test files' own systems use, so a spawned process opens what they sealed.
    SECRETS_KEY: testEnv.SECRETS_KEY!,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    TEMPORAL_CORE_METRICS: 'false',
    DATA_DIR: dataDir,
    TASK_QUEUE_ORCHESTRATION: taskQueues.orchestration,
    TASK_QUEUE_ANALYSIS: taskQueues.analysis,
    TASK_QUEUE_INTEGRATIONS: taskQueues.integrations,
    // The API checks a subscription's URL too, so both it and the worker let the test's receivers in.
    ...(opts.integrations ? { WEBHOOK_ALLOWED_DESTINATIONS: '127.0.0.0/8' } : {}),
  };
  const [apiPort, grpcPort, orchestrationPort, analysisPort, integrationsPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const processes = {
    api: spawnEntrypoint('api/main.ts', {
      ...common,
      PORT: String(apiPort),
      GRPC_PORT: String(grpcPort),
      INGEST_SHARD_NAME: suffix,
      ...opts.apiEnv,
    }),
    orchestration: spawnEntrypoint('workers/orchestration.ts', {
      ...common,
      HEALTH_PORT: String(orchestrationPort),
      ...opts.workerEnv,
    }),
    analysis: spawnEntrypoint('workers/analysis.ts', {
      ...common,
      HEALTH_PORT: String(analysisPort),
      ...opts.workerEnv,
    }),
    ...(opts.integrations
      ? {
          integrations: spawnEntrypoint('workers/integrations.ts', {
            ...common,
            HEALTH_PORT: String(integrationsPort),
            // Its judge schedule would lease the shared database's samples from under other test files.
            JUDGE_SCHEDULE_ENABLED: 'false',
            WEBHOOK_RETRY_INITIAL_MS: '200',
            ...opts.workerEnv,
          }),
        }
      : {}),
  };
  // The test's own side (its admin key, its reads, its Temporal client), composed as the processes are.
  const c = await compose(testEnv, { name: 'live-system', poolMax: 5, temporal: true, taskQueues });
  const stop = async () => {
    const all = Object.values(processes).filter((p): p is Spawned => p !== undefined);
    for (const p of all) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
    }
    await Promise.all(all.map((p) => p.exited));
    await c.close();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    for (const [name, port] of [
      ['api', apiPort],
      ['orchestration', orchestrationPort],
      ['analysis', analysisPort],
      ...(opts.integrations ? [['integrations', integrationsPort] as const] : []),
    ] as const) {
      const proc = processes[name]!;
      await eventually(
        async () => {
          if (proc.child.exitCode !== null) throw new Error(`${name} exited: ${proc.output().slice(-2000)}`);
          return (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200;
        },
        { timeoutMs: 120_000, intervalMs: 250, what: `the ${name} process to be ready` },
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const adminKey = (
    await c.repos.apiKeys.create({ name: `live ${suffix}`, roles: ['admin'], createdBy: 'live-system' })
  ).key;
  const api = `http://127.0.0.1:${apiPort}`;
  return {
    api,
    adminKey,
    client: c.temporal,
    db: c.db,
    taskQueues,
    processes,
    ports: {
      api: apiPort,
      orchestration: orchestrationPort,
      analysis: analysisPort,
      integrations: integrationsPort,
    },
    call: apiClient(api, adminKey),
    stop,
  };
}
