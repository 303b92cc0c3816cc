/**
 * What the dependency-fault tests and `bench/faults.ts` share: the project's processes spawned as real
 * children pointed at private services, an ingest load that behaves like the SDK (every batch resent
 * with the same ids until it is acknowledged), readiness probes, and the stored count of a target.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { NativeConnection, Worker } from '@temporalio/worker';
import { WORKFLOW_TYPES, type TaskQueues } from '../../domain/names';
import { freePort } from '../../platform/net';
import { createLogger } from '../../platform/logger';
import { installRuntime } from '../../platform/temporal';
import { createPool, type Db } from '../../adapters/db/pool';
import { createDecisionsRepo } from '../../adapters/db/repos/decisions';
import { createTargetsRepo } from '../../adapters/db/repos/targets';
import type { RolloutResult } from '../../workflows/messages';
import { seedApprovedRollout, seedTarget } from '../helpers/rollout';
import { createApiKeysRepo } from '../../adapters/db/repos/api-keys';
import type { TelemetryEvent } from '../../domain/events';
import { llmRequest } from '../integration/data-plane/fixtures';
import { eventually, testEnv, uniqueName } from '../helpers/env';
import { spawnEntrypoint, type Spawned } from '../helpers/process';

export interface RunningProcess {
  /** Base URL of its HTTP server (the API's REST port, a worker's health port). */
  url: string;
  proc: Spawned;
  /** SIGTERM, awaited; SIGKILL when it overstays the 10 s budget. */
  stop(): Promise<void>;
}

/** The environment every spawned process gets: quiet logs, no Temporal Core metrics, its own data dir. */
export function baseEnv(dataDir: string): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    TEMPORAL_CORE_METRICS: 'false',
    TEMPORAL_NAMESPACE: testEnv.TEMPORAL_NAMESPACE,
    DATA_DIR: dataDir,
  };
}

/** A temporary directory removed by the returned function. */
export function scratchDir(kind: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `llmopt-faults-${kind}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Spawns an entrypoint (api/main.ts gets PORT and GRPC_PORT, a worker HEALTH_PORT) and waits for its
 * /readyz to answer 200.
 */
export async function spawnReady(file: string, env: Record<string, string>): Promise<RunningProcess> {
  const port = await freePort();
  const own = file === 'api/main.ts' ? { PORT: String(port), GRPC_PORT: String(await freePort()) } : {};
  const proc = spawnEntrypoint(file, { ...env, ...own, HEALTH_PORT: String(port) });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
    proc.child.kill('SIGTERM');
    const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10_000);
    await proc.exited;
    clearTimeout(timer);
  };
  try {
    await eventually(
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`${file} exited: ${proc.output().slice(-3000)}`);
        return (await readiness(url)).ready;
      },
      { timeoutMs: 120_000, intervalMs: 250, what: `${file} to be ready` },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, proc, stop };
}

export interface Readiness {
  ready: boolean;
  /** Names of the failing checks. */
  failing: string[];
  /** The failing checks with their reasons, for messages. */
  body: unknown;
}

/** GET /readyz; a process that does not answer at all is reported as failing "(no answer)". */
export async function readiness(url: string): Promise<Readiness> {
  try {
    const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) });
    const body = (await res.json()) as { checks?: { name: string; ok: boolean }[] };
    const failing = (body.checks ?? []).filter((c) => !c.ok).map((c) => c.name);
    return { ready: res.status === 200, failing, body };
  } catch (err) {
    return { ready: false, failing: ['(no answer)'], body: String(err) };
  }
}

/** Waits until /readyz is 503 naming `dependency`, and returns what it said. */
export async function awaitNotReadyNaming(url: string, dependency: string, timeoutMs = 60_000) {
  return eventually(
    async () => {
      const r = await readiness(url);
      return !r.ready && r.failing.includes(dependency) ? r : undefined;
    },
    { timeoutMs, intervalMs: 250, what: `${url}/readyz to name ${dependency}` },
  );
}

/** Waits until /readyz answers 200 again; returns the time it did. */
export async function awaitReady(url: string, timeoutMs = 120_000): Promise<number> {
  let last: Readiness | undefined;
  await eventually(async () => (last = await readiness(url)).ready, {
    timeoutMs,
    intervalMs: 100,
    what: `${url}/readyz to answer 200`,
  }).catch((err: unknown) => {
    throw new Error(`${String(err)}; it said ${JSON.stringify(last?.body)}`);
  });
  return Date.now();
}

/** An API key with these roles, created in the database the API uses. */
export async function createKey(databaseUrl: string, roles: string[]): Promise<string> {
  const db = createPool(databaseUrl, 1);
  try {
    return (await createApiKeysRepo(db).create({ name: uniqueName('faults'), roles, createdBy: 'faults' }))
      .key;
  } finally {
    await db.end();
  }
}

/** Events counted into `target`'s stored windows (every shard's row, each window once per shard). */
export async function storedCount(databaseUrl: string, target: string): Promise<number> {
  const db = createPool(databaseUrl, 1);
  try {
    const r = await db.query<{ n: number }>(
      'SELECT coalesce(sum(count), 0)::int AS n FROM window_aggregates WHERE target = $1',
      [target],
    );
    return r.rows[0]!.n;
  } finally {
    await db.end();
  }
}

export interface IngestLoad {
  target: string;
  /** Events acknowledged (202) so far. */
  readonly acked: number;
  /** Every answer by status ("error" when the request failed without one), with the time it came. */
  readonly answers: { status: number | 'error'; at: number; detail?: string }[];
  /** Ids of the events sent again after an answer that was not 202 (each resent until acknowledged). */
  readonly resent: number;
  /** Sends one batch again that was already acknowledged (a client whose 202 got lost resends it). */
  resendAcknowledged(count: number): Promise<number>;
  /** Resolves once every batch is acknowledged. */
  done: Promise<void>;
  /** Stops sending: no new batch, and a batch in flight is not sent again (it stays unacknowledged). */
  stop(): void;
}

/**
 * `senders` concurrent clients posting batches of `batch` events until `total` are acknowledged, each
 * batch resent with the same ids after any answer but 202 (as the SDK does), after `retryMs`.
 */
export function startIngestLoad(opts: {
  api: string;
  key: string;
  total: number;
  batch?: number;
  senders?: number;
  /** Pause between two batches of one sender, so the load is modest and lasts through the fault. */
  pauseMs?: number;
  retryMs?: number;
}): IngestLoad {
  const target = uniqueName('faults-bot');
  const batchSize = opts.batch ?? 50;
  const answers: IngestLoad['answers'] = [];
  const acknowledged: TelemetryEvent[][] = [];
  let next = 0;
  let acked = 0;
  let resent = 0;
  let stopped = false;
  const post = async (events: unknown[]): Promise<number | 'error'> => {
    try {
      const res = await fetch(`${opts.api}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${opts.key}`, 'content-type': 'application/json' },
        body: JSON.stringify(events),
        signal: AbortSignal.timeout(45_000),
      });
      const text = await res.text();
      answers.push({ status: res.status, at: Date.now(), ...(res.status !== 202 ? { detail: text } : {}) });
      return res.status;
    } catch (err) {
      answers.push({ status: 'error', at: Date.now(), detail: String(err) });
      return 'error';
    }
  };
  const sender = async () => {
    while (!stopped && next < opts.total) {
      const from = next;
      next = Math.min(opts.total, next + batchSize);
      const events = Array.from({ length: next - from }, (_, i) => llmRequest(target, from + i, Date.now()));
      while ((await post(events)) !== 202) {
        if (stopped) return;
        resent += events.length;
        await new Promise((r) => setTimeout(r, opts.retryMs ?? 250));
      }
      acked += events.length;
      acknowledged.push(events);
      if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
    }
  };
  const done = Promise.all(Array.from({ length: opts.senders ?? 2 }, sender)).then(() => undefined);
  return {
    target,
    get acked() {
      return acked;
    },
    answers,
    get resent() {
      return resent;
    },
    async resendAcknowledged(count) {
      const events = acknowledged.flat().slice(0, count);
      while ((await post(events)) !== 202) await new Promise((r) => setTimeout(r, opts.retryMs ?? 250));
      return events.length;
    },
    done,
    stop: () => (stopped = true),
  };
}

/** Waits until `n` events are acknowledged by the load. */
export function awaitAcked(load: IngestLoad, n: number, timeoutMs = 60_000): Promise<true> {
  return eventually(async () => load.acked >= n, {
    timeoutMs,
    intervalMs: 50,
    what: `${n} acknowledged events`,
  });
}

/** Waits until the stored count of the load's target reaches `want`, then returns what is stored. */
export async function awaitStored(databaseUrl: string, target: string, want: number, timeoutMs = 90_000) {
  await eventually(async () => (await storedCount(databaseUrl, target)) >= want, {
    timeoutMs,
    intervalMs: 250,
    what: `${want} events of ${target} stored`,
  }).catch(async (err: unknown) => {
    throw new Error(`${String(err)}; stored ${await storedCount(databaseUrl, target)}`);
  });
  return storedCount(databaseUrl, target);
}

/** Events and duplicates the checkpoints of the shards named `shard%` have committed. */
export async function shardTotals(
  databaseUrl: string,
  shardLike: string,
): Promise<{ events: number; duplicates: number }> {
  const db = createPool(databaseUrl, 1);
  try {
    const r = await db.query<{ events: number; duplicates: number }>(
      `SELECT coalesce(sum(events), 0)::int AS events, coalesce(sum(duplicates), 0)::int AS duplicates
         FROM ingest_checkpoints WHERE shard LIKE $1`,
      [shardLike],
    );
    return r.rows[0]!;
  } finally {
    await db.end();
  }
}

/**
 * An analysis worker in the test process whose judge passes every stage (the verdicts are not what a
 * fault test is about), and a client, both on the Temporal at `address`.
 */
export async function startPassingJudge(address: string, taskQueue: string) {
  installRuntime(createLogger('test', testEnv.LOG_LEVEL));
  const native = await NativeConnection.connect({ address });
  let calls = 0;
  const worker = await Worker.create({
    connection: native,
    namespace: testEnv.TEMPORAL_NAMESPACE,
    taskQueue,
    activities: {
      async judgeStage() {
        calls++;
        return {
          outcome: 'pass' as const,
          reasons: ['scripted pass'],
          metrics: [],
          samples: { baseline: 500, canary: 500 },
        };
      },
    },
  });
  const running = worker.run();
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: testEnv.TEMPORAL_NAMESPACE });
  return {
    client,
    get calls() {
      return calls;
    },
    async stop() {
      worker.shutdown();
      await running;
      await native.close();
      await connection.close();
    },
  };
}

/**
 * After a fault: waits for the processes to be ready again and the load to be acknowledged in full,
 * then for every acknowledged event to be stored; then sends 100 acknowledged events again (a client
 * whose 202 got lost) and waits for the shards named `shardLike` to have processed them as duplicates.
 * Returns what was stored before and after that resend.
 */
export async function countAfterRecovery(opts: {
  processes: RunningProcess[];
  load: IngestLoad;
  databaseUrl: string;
  shardLike: string;
}): Promise<{ acked: number; stored: number; storedAfterResend: number; resent: number }> {
  for (const p of opts.processes) await awaitReady(p.url);
  await opts.load.done;
  const { databaseUrl, load } = opts;
  const stored = await awaitStored(databaseUrl, load.target, load.acked);
  const duplicatesBefore = (await shardTotals(databaseUrl, opts.shardLike)).duplicates;
  const resent = await load.resendAcknowledged(100);
  await eventually(
    async () => (await shardTotals(databaseUrl, opts.shardLike)).duplicates >= duplicatesBefore + resent,
    { timeoutMs: 60_000, what: 'the resent events to be processed' },
  );
  return {
    acked: load.acked,
    stored,
    storedAfterResend: await storedCount(databaseUrl, load.target),
    resent,
  };
}

/** Answers of the load that were neither an acknowledgement nor a 503 to retry. */
export const unexpectedAnswers = (load: IngestLoad) =>
  load.answers.filter((a) => a.status !== 202 && a.status !== 503);

/** Closers run last-in first-out by `run()`, each failure ignored: for a test file's afterAll. */
export function cleanups() {
  const fns: (() => unknown)[] = [];
  return {
    add(fn: () => unknown) {
      fns.push(fn);
    },
    async run() {
      for (const fn of fns.splice(0).reverse())
        await Promise.resolve()
          .then(fn)
          .catch(() => undefined);
    },
  };
}

/**
 * A rollout under test: the real orchestration worker process on `temporalAddress` and
 * `databaseUrl`, a passing judge in this process, and a target at v1 with an approved two-stage canary
 * (20 % baking `firstBakeSeconds`, then 100 % for one second) that `start()` starts. Everything it
 * started is handed to `cleanup`.
 */
export async function prepareRollout(opts: {
  dataDir: string;
  databaseUrl: string;
  temporalAddress: string;
  firstBakeSeconds: number;
  cleanup: ReturnType<typeof cleanups>;
}) {
  const suffix = uniqueName('faults');
  const taskQueues: TaskQueues = {
    orchestration: `orchestration-${suffix}`,
    analysis: `analysis-${suffix}`,
    integrations: `integrations-${suffix}`,
  };
  const worker = await spawnReady('workers/orchestration.ts', {
    ...baseEnv(opts.dataDir),
    DATABASE_URL: opts.databaseUrl,
    TEMPORAL_ADDRESS: opts.temporalAddress,
    TASK_QUEUE_ORCHESTRATION: taskQueues.orchestration,
    TASK_QUEUE_ANALYSIS: taskQueues.analysis,
    TASK_QUEUE_INTEGRATIONS: taskQueues.integrations,
  });
  opts.cleanup.add(worker.stop);
  const judge = await startPassingJudge(opts.temporalAddress, taskQueues.analysis);
  opts.cleanup.add(judge.stop);
  const db = createPool(opts.databaseUrl, 2);
  opts.cleanup.add(() => db.end());
  const targets = createTargetsRepo(db);
  const target = await seedTarget(
    { targets },
    {
      prefix: 'faults-bot',
      policy: {
        rollout: {
          preset: 'custom',
          stages: [
            { canary_bps: 2000, bake_seconds: opts.firstBakeSeconds },
            { canary_bps: 10000, bake_seconds: 1 },
          ],
        },
      },
    },
  );
  const { input, workflowId } = await seedApprovedRollout(
    { targets, decisions: createDecisionsRepo(db) },
    target,
    taskQueues,
    { overrides: { maxBakeExtensions: 0, minSamplesPerArm: 100 } },
  );
  return {
    worker,
    judge,
    db,
    target,
    workflowId,
    async start() {
      await judge.client.workflow.start(WORKFLOW_TYPES.canaryRollout, {
        workflowId,
        taskQueue: taskQueues.orchestration,
        args: [input],
      });
    },
    /**
     * Starts it with its stage-1 config write held in flight: an uncommitted row with the version that
     * write inserts makes its INSERT wait on the primary key. Resolves once it waits; the returned
     * function ends the holding session (a restart of the server ends both anyway).
     */
    async startWithStageOneWriteHeld(): Promise<() => Promise<void>> {
      const blocker = new pg.Client({ connectionString: opts.databaseUrl });
      blocker.on('error', () => undefined);
      await blocker.connect();
      await blocker.query('BEGIN');
      await blocker.query(
        `INSERT INTO routing_configs (target, segment, version, weights, reason) VALUES ($1, 'default', 2, '{}', 'blocker')`,
        [target],
      );
      await this.start();
      await eventually(
        async () =>
          (
            await db.query(
              `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO routing_configs%'`,
            )
          ).rowCount === 1,
        { timeoutMs: 60_000, what: 'the stage-1 config write to be in flight' },
      );
      return () => blocker.end().catch(() => undefined);
    },
    /** Once it finished: its result, the config versions, the rollout rows of the target. */
    outcome: () => rolloutOutcome(db, judge.client, target, workflowId),
  };
}

/**
 * The rollout of `prepareRollout` (first bake one second, on the shared Temporal) started with its
 * stage-1 config write held in flight, then `postgres` stopped under it and the write let go: the
 * worker's retried write finds no database. Resolves once the worker's /readyz names postgres, with
 * what it said.
 */
export async function stopPostgresDuringStageOneWrite(opts: {
  dataDir: string;
  postgres: { readonly url: string; stop(): Promise<void> };
  cleanup: ReturnType<typeof cleanups>;
}) {
  const rollout = await prepareRollout({
    dataDir: opts.dataDir,
    databaseUrl: opts.postgres.url,
    temporalAddress: testEnv.TEMPORAL_ADDRESS,
    firstBakeSeconds: 1,
    cleanup: opts.cleanup,
  });
  const release = await rollout.startWithStageOneWriteHeld();
  await opts.postgres.stop();
  await release();
  const notReady = await awaitNotReadyNaming(rollout.worker.url, 'postgres');
  return { rollout, notReady };
}

/**
 * What a finished rollout left: its result, the config versions of the segment as
 * [version, canary weight, written by a rollout], the rollout rows of the target and the stored state.
 */
async function rolloutOutcome(db: Db, client: Client, target: string, workflowId: string) {
  const result = await client.workflow.getHandle<() => Promise<RolloutResult>>(workflowId).result();
  const history = (await createTargetsRepo(db).configHistory(target, 'default', 10)).reverse();
  const rows = await db.query<{ id: string; state: string }>(
    'SELECT id, state FROM rollouts WHERE target = $1',
    [target],
  );
  return {
    state: result.state,
    versions: history.map((c) => [c.version, c.weights.small ?? 0, c.rollout_id !== null]),
    rollouts: rows.rows,
  };
}

/** The versions an undisturbed two-stage rollout writes: v1 seeded, one version per stage. */
export const ONE_VERSION_PER_STAGE = [
  [1, 0, false],
  [2, 2000, true],
  [3, 10000, true],
];

/**
 * KAFKA mode over the shared PostgreSQL: the stream process consuming `topic` in a group of its own,
 * then the API producing to it, both ready; and an ingest key. The caller stops both.
 */
export async function startKafkaMode(opts: {
  dataDir: string;
  brokers: string;
  redisUrl: string;
  topic: string;
  dlq: string;
}): Promise<{ api: RunningProcess; stream: RunningProcess; key: string }> {
  const env = {
    ...baseEnv(opts.dataDir),
    DATABASE_URL: testEnv.DATABASE_URL,
    TEMPORAL_ADDRESS: testEnv.TEMPORAL_ADDRESS,
    REDIS_URL: opts.redisUrl,
    KAFKA_BROKERS: opts.brokers,
    KAFKA_EVENTS_TOPIC: opts.topic,
    KAFKA_DLQ_TOPIC: opts.dlq,
    KAFKA_CONSUMER_GROUP: uniqueName('faults-group'),
    INGEST_FLUSH_INTERVAL_MS: '200',
  };
  const stream = await spawnReady('workers/stream.ts', env);
  const api = await spawnReady('api/main.ts', env).catch(async (err: unknown) => {
    await stream.stop();
    throw err;
  });
  return { api, stream, key: await createKey(testEnv.DATABASE_URL, ['ingest']) };
}
