/**
 * `npm run bench -- faults`: how long each process takes to recover from a dependency failing, on the
 * same scenarios as tests/faults/ (private instances of the dependency, the real processes pointed at
 * them). Each figure runs from the moment the dependency answers again to the first end-to-end
 * operation that succeeds after it:
 * - ingest scenarios: an event sent after the restart (one every 100 ms until one is acknowledged) is
 *   stored in the aggregates;
 * - the config write: the rollout's retried write of stage 1 is stored;
 * - Temporal: a rollout started after the restart has applied its first stage.
 * `/readyz` answering 200 again is reported alongside. One run per scenario: these are orders of
 * magnitude (retry backoffs, reconnect timers), not distributions.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { migrate } from '../adapters/db/migrate';
import { createPool, type Db } from '../adapters/db/pool';
import { createRolloutsRepo } from '../adapters/db/repos/rollouts';
import { eventually, testEnv, uniqueName } from '../tests/helpers/env';
import { connectKafka } from '../tests/helpers/kafka';
import {
  startPrivateKafka,
  startPrivatePostgres,
  startPrivateRedis,
  startPrivateTemporal,
} from '../tests/helpers/private-services';
import { llmRequest } from '../tests/integration/data-plane/fixtures';
import {
  awaitAcked,
  awaitNotReadyNaming,
  awaitReady,
  baseEnv,
  cleanups,
  createKey,
  prepareRollout,
  scratchDir,
  spawnReady,
  startIngestLoad,
  startKafkaMode,
  stopPostgresDuringStageOneWrite,
  storedCount,
} from '../tests/faults/harness';

type Figures = Record<string, number | string>;
type Cleanups = ReturnType<typeof cleanups>;

/** The Redis outage, as in tests/faults/redis.test.ts. */
const REDIS_OUTAGE_MS = 30_000;
/** Other outages: long enough for every process to notice (its /readyz names the dependency). */
const SHORT_OUTAGE_MS = 5_000;

/**
 * Runs one scenario against a private `service` in a scratch directory, then stops everything the
 * scenario handed to `cleanup`, destroys the service and removes the directory.
 */
async function onPrivate<S extends { destroy(): Promise<void> }>(
  service: S,
  kind: string,
  scenario: (dataDir: string, cleanup: Cleanups) => Promise<Figures>,
): Promise<Figures> {
  const scratch = scratchDir(kind);
  const cleanup = cleanups();
  try {
    return await scenario(scratch.dir, cleanup);
  } finally {
    await cleanup.run();
    await service.destroy();
    scratch.remove();
  }
}

/**
 * Takes `service` down (`down`: its stop unless said otherwise) until the process at `watched` says on
 * /readyz that `dependency` fails, keeps it down `outageMs` more and starts it again. Returns the time
 * it was back.
 */
async function outage(
  service: { stop(): Promise<void>; start(): Promise<void> },
  watched: string,
  dependency: string,
  outageMs: number,
  down = () => service.stop(),
): Promise<number> {
  await down();
  await awaitNotReadyNaming(watched, dependency);
  await sleep(outageMs);
  await service.start();
  return Date.now();
}

/**
 * From `since`: one event every 100 ms until one is acknowledged, then until it is stored. Returns the
 * ms from `since` to the first acknowledgement and to the event stored.
 */
async function probeIngest(api: string, key: string, databaseUrl: string, since: number) {
  const target = uniqueName('faults-probe');
  let n = 0;
  let ackedAt = 0;
  while (!ackedAt) {
    const res = await fetch(`${api}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify([llmRequest(target, n++, Date.now())]),
      signal: AbortSignal.timeout(30_000),
    }).catch(() => undefined);
    await res?.arrayBuffer();
    if (res?.status === 202) ackedAt = Date.now();
    else await sleep(100);
  }
  await eventually(async () => (await storedCount(databaseUrl, target)) >= 1, {
    timeoutMs: 180_000,
    intervalMs: 25,
    what: 'the probe event to be stored',
  });
  return { acked: ackedAt - since, stored: Date.now() - since };
}

/** Starts polling /readyz of each process at once; each promise resolves to the ms from `since` to 200. */
const readyAfter = (urls: string[], since: number) =>
  urls.map((u) => awaitReady(u, 180_000).then((at) => at - since));

/** Whether a rollout has written its stage 1 (20 % to the canary arm). */
const stageOneWritten = (db: Db) => {
  const rollouts = createRolloutsRepo(db);
  return async (workflowId: string) => (await rollouts.get(workflowId))?.weights?.small === 2000;
};

/** Waits for the rollout's stage 1 to be written; returns the ms from `since`. */
async function stageOneAfter(db: Db, workflowId: string, since: number, timeoutMs: number): Promise<number> {
  const written = stageOneWritten(db);
  await eventually(() => written(workflowId), { timeoutMs, intervalMs: 25, what: 'stage 1 to be written' });
  return Date.now() - since;
}

const describeOutcome = (o: { state: string; versions: readonly (readonly unknown[])[] }) =>
  `${o.state}, versions ${o.versions.map((v) => String(v[0])).join('/')}`;

/** 3,000 events of an ingest load sent, the first 600 of them acknowledged. */
async function loadUnderWay(api: string, key: string, cleanup: Cleanups): Promise<void> {
  const load = startIngestLoad({ api, key, total: 3_000, batch: 50, pauseMs: 40 });
  cleanup.add(() => load.stop());
  await awaitAcked(load, 600);
}

async function postgresIngest(): Promise<Figures> {
  const postgres = await startPrivatePostgres();
  return onPrivate(postgres, 'bench-pg', async (dataDir, cleanup) => {
    await migrate(postgres.url);
    const api = await spawnReady('api/main.ts', {
      ...baseEnv(dataDir),
      DATABASE_URL: postgres.url,
      TEMPORAL_ADDRESS: testEnv.TEMPORAL_ADDRESS,
      INGEST_SHARD_NAME: uniqueName('bench-faults'),
    });
    cleanup.add(api.stop);
    const key = await createKey(postgres.url, ['ingest']);
    await loadUnderWay(api.url, key, cleanup);
    const back = await outage(postgres, api.url, 'postgres', SHORT_OUTAGE_MS);
    const [ready] = readyAfter([api.url], back);
    const probe = await probeIngest(api.url, key, postgres.url, back);
    return {
      postgres_ingest_outage_ms: SHORT_OUTAGE_MS,
      postgres_ingest_back_to_probe_stored_ms: probe.stored,
      postgres_ingest_back_to_api_ready_ms: await ready!,
    };
  });
}

async function postgresConfigWrite(): Promise<Figures> {
  const postgres = await startPrivatePostgres();
  return onPrivate(postgres, 'bench-pg-config', async (dataDir, cleanup) => {
    await migrate(postgres.url);
    // The stage-1 write held in flight, as in tests/faults/postgres.test.ts.
    const { rollout } = await stopPostgresDuringStageOneWrite({ dataDir, postgres, cleanup });
    await sleep(SHORT_OUTAGE_MS);
    await postgres.start();
    const back = Date.now();
    const [ready] = readyAfter([rollout.worker.url], back);
    const written = await stageOneAfter(rollout.db, rollout.workflowId, back, 180_000);
    return {
      postgres_config_write_back_to_stage_written_ms: written,
      postgres_config_write_back_to_worker_ready_ms: await ready!,
      postgres_config_write_outcome: describeOutcome(await rollout.outcome()),
    };
  });
}

async function redisDown(): Promise<Figures> {
  const redis = await startPrivateRedis();
  return onPrivate(redis, 'bench-redis', async (dataDir, cleanup) => {
    const topic = uniqueName('llmopt.bench.faults');
    const kafka = await connectKafka('llmopt-bench-faults');
    cleanup.add(() => kafka.disconnect());
    await kafka.admin.createTopics({
      waitForLeaders: true,
      topics: [
        { topic, numPartitions: 2 },
        { topic: `${topic}.dlq`, numPartitions: 1 },
      ],
    });
    cleanup.add(() => kafka.admin.deleteTopics({ topics: [topic, `${topic}.dlq`] }));
    const { api, stream, key } = await startKafkaMode({
      dataDir,
      brokers: testEnv.KAFKA_BROKERS!,
      redisUrl: redis.url,
      topic,
      dlq: `${topic}.dlq`,
    });
    cleanup.add(api.stop);
    cleanup.add(stream.stop);
    await probeIngest(api.url, key, testEnv.DATABASE_URL, Date.now());
    const back = await outage(redis, stream.url, 'redis', REDIS_OUTAGE_MS, () => redis.kill());
    const [apiReady, streamReady] = readyAfter([api.url, stream.url], back);
    const probe = await probeIngest(api.url, key, testEnv.DATABASE_URL, back);
    return {
      redis_outage_ms: REDIS_OUTAGE_MS,
      redis_back_to_probe_stored_ms: probe.stored,
      redis_back_to_api_ready_ms: await apiReady!,
      redis_back_to_stream_ready_ms: await streamReady!,
    };
  });
}

async function kafkaRestart(): Promise<Figures> {
  const topic = uniqueName('llmopt.bench.faults');
  const kafka = await startPrivateKafka([
    { topic, partitions: 4 },
    { topic: `${topic}.dlq`, partitions: 1 },
  ]);
  return onPrivate(kafka, 'bench-kafka', async (dataDir, cleanup) => {
    const { api, stream, key } = await startKafkaMode({
      dataDir,
      brokers: kafka.brokers,
      redisUrl: testEnv.REDIS_URL!,
      topic,
      dlq: `${topic}.dlq`,
    });
    cleanup.add(api.stop);
    cleanup.add(stream.stop);
    await loadUnderWay(api.url, key, cleanup);
    const back = await outage(kafka, api.url, 'kafka', SHORT_OUTAGE_MS);
    const [apiReady, streamReady] = readyAfter([api.url, stream.url], back);
    const probe = await probeIngest(api.url, key, testEnv.DATABASE_URL, back);
    return {
      kafka_back_to_first_202_ms: probe.acked,
      kafka_back_to_probe_stored_ms: probe.stored,
      kafka_back_to_api_ready_ms: await apiReady!,
      kafka_back_to_stream_ready_ms: await streamReady!,
    };
  });
}

async function temporalRestart(): Promise<Figures> {
  const temporal = await startPrivateTemporal();
  return onPrivate(temporal, 'bench-temporal', async (dataDir, cleanup) => {
    const prepare = (firstBakeSeconds: number) =>
      prepareRollout({
        dataDir,
        databaseUrl: testEnv.DATABASE_URL,
        temporalAddress: temporal.address,
        firstBakeSeconds,
        cleanup,
      });
    const baking = await prepare(10);
    await baking.start();
    const db = createPool(testEnv.DATABASE_URL, 2);
    cleanup.add(() => db.end());
    const stage1 = stageOneWritten(db);
    await eventually(() => stage1(baking.workflowId), { timeoutMs: 60_000, what: 'stage 1 to bake' });
    // A second rollout, seeded now (its worker and judge connected) and started after the restart.
    const fresh = await prepare(1);
    const back = await outage(temporal, baking.worker.url, 'temporal', 0);
    const [ready] = readyAfter([fresh.worker.url], back);
    // A start the server took before its answer was lost is started all the same.
    const started = async () => {
      try {
        await fresh.start();
      } catch (err) {
        if ((err as Error).name !== 'WorkflowExecutionAlreadyStartedError') throw err;
      }
      return true;
    };
    await eventually(started, {
      timeoutMs: 60_000,
      intervalMs: 100,
      what: 'a rollout to start',
    });
    const applied = await stageOneAfter(db, fresh.workflowId, back, 120_000);
    return {
      temporal_back_to_new_rollout_stage_applied_ms: applied,
      temporal_back_to_worker_ready_ms: await ready!,
      temporal_baking_rollout_outcome: describeOutcome(await baking.outcome()),
    };
  });
}

export async function runFaultsBench(): Promise<Figures> {
  const figures: Figures = {};
  // One at a time: the private Kafka and Temporal are heavy on a small machine.
  for (const scenario of [postgresIngest, postgresConfigWrite, redisDown, kafkaRestart, temporalRestart]) {
    process.stderr.write(`bench faults: ${scenario.name}\n`);
    Object.assign(figures, await scenario());
  }
  return figures;
}
