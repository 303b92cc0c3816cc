/**
 * Redis down for 30 s (SIGKILL, then started again on the same port with its append-only file) under the
 * real API and stream processes in KAFKA mode, on a private Redis so the shared one keeps serving the
 * other test files (Kafka and PostgreSQL are the shared ones: they do not fail here). The API keeps
 * answering from its in-process fallbacks, /readyz names redis while it is down, both processes recover
 * on their own, and no acknowledged event is lost or counted twice: the stream's dedup lives in Redis,
 * so events sent again after the outage must still be recognised.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Db } from '../../adapters/db/pool';
import { createTargetsRepo } from '../../adapters/db/repos/targets';
import { eventually, testEnv, uniqueName } from '../helpers/env';
import { connectKafka, type KafkaClients } from '../helpers/kafka';
import { startPrivateRedis, type PrivateService } from '../helpers/private-services';
import { seedTarget } from '../helpers/rollout';
import {
  awaitAcked,
  awaitNotReadyNaming,
  awaitStored,
  cleanups,
  countAfterRecovery,
  readiness,
  scratchDir,
  startIngestLoad,
  startKafkaMode,
  unexpectedAnswers,
} from './harness';

/** The outage the issue asks for: longer than every Redis timeout and retry budget of the processes. */
const OUTAGE_MS = 30_000;
const topic = uniqueName('llmopt.faults.redis');
const dlq = `${topic}.dlq`;
let redis: PrivateService & { url: string };
let kafka: KafkaClients;
let db: Db;
const scratch = scratchDir('redis');
const cleanup = cleanups();

beforeAll(async () => {
  redis = await startPrivateRedis();
  db = createPool(testEnv.DATABASE_URL, 2);
  kafka = await connectKafka('llmopt-faults-redis');
  await kafka.admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic, numPartitions: 2 },
      { topic: dlq, numPartitions: 1 },
    ],
  });
});

afterAll(async () => {
  await cleanup.run();
  await redis?.destroy();
  await kafka?.admin.deleteTopics({ topics: [topic, dlq] }).catch(() => undefined);
  await kafka?.disconnect();
  await db?.end();
  scratch.remove();
});

describe('Redis down for 30 s', () => {
  it(
    'the API keeps answering, /readyz names redis, and every acknowledged event counts once',
    { timeout: 240_000 },
    async () => {
      const { api, stream, key } = await startKafkaMode({
        dataDir: scratch.dir,
        brokers: testEnv.KAFKA_BROKERS!,
        redisUrl: redis.url,
        topic,
        dlq,
      });
      cleanup.add(api.stop);
      cleanup.add(stream.stop);
      const target = await seedTarget({ targets: createTargetsRepo(db) }, { prefix: 'faults-redis-bot' });
      const readConfig = async () =>
        (
          await fetch(`${api.url}/v1/targets/${target}/config?segment=default`, {
            headers: { authorization: `Bearer ${key}` },
          })
        ).status;
      expect(await readConfig()).toBe(200);
      // Modest and spread out (about 100 events/s), so the load runs through the outage.
      const load = startIngestLoad({ api: api.url, key, total: 4_000, batch: 25, senders: 2, pauseMs: 400 });
      await awaitAcked(load, 500);
      // Those events are processed (their dedup marks written) before Redis goes.
      await awaitStored(testEnv.DATABASE_URL, load.target, 500);

      await redis.kill();
      const downAt = Date.now();
      const apiNotReady = await awaitNotReadyNaming(api.url, 'redis');
      const streamNotReady = await awaitNotReadyNaming(stream.url, 'redis');
      // Hold the outage while checking what callers get meanwhile.
      const configAnswers: number[] = [];
      await eventually(
        async () => {
          configAnswers.push(await readConfig());
          const r = await readiness(api.url);
          if (r.ready || !r.failing.includes('redis')) throw new Error('/readyz stopped naming redis');
          return Date.now() - downAt >= OUTAGE_MS;
        },
        { timeoutMs: OUTAGE_MS + 30_000, intervalMs: 1_000, what: 'the outage to last 30 s' },
      );
      const upAt = Date.now();
      await redis.start();

      const counted = await countAfterRecovery({
        processes: [api, stream],
        load,
        databaseUrl: testEnv.DATABASE_URL,
        shardLike: `kafka:${topic}:%`,
      });
      expect(counted).toMatchObject({ acked: 4_000, stored: 4_000, storedAfterResend: 4_000 });
      expect(apiNotReady.failing).toContain('redis');
      expect(streamNotReady.failing).toContain('redis');
      // Degraded, not down: the routing config comes from PostgreSQL, limits from in-process buckets.
      expect(configAnswers.length).toBeGreaterThan(10);
      expect(configAnswers.filter((s) => s !== 200)).toEqual([]);
      const whileDown = load.answers.filter((a) => a.at > downAt && a.at < upAt);
      expect(whileDown.filter((a) => a.status === 202).length).toBeGreaterThan(10);
      expect(unexpectedAnswers(load)).toEqual([]);
      expect(api.proc.child.exitCode).toBeNull();
      expect(stream.proc.child.exitCode).toBeNull();
    },
  );
});
