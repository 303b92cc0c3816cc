/**
 * The Kafka broker restarted under load (KAFKA mode: the API process produces, the stream process
 * consumes), on a private one-node broker so the shared one keeps serving the other test files: every
 * acknowledged event is counted exactly once after recovery, the API answers 503 (never 202) while it
 * cannot produce, and both processes resume on their own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, testEnv, uniqueName } from '../helpers/env';
import { startPrivateKafka, type PrivateService } from '../helpers/private-services';
import {
  awaitAcked,
  awaitNotReadyNaming,
  cleanups,
  countAfterRecovery,
  scratchDir,
  startIngestLoad,
  startKafkaMode,
  unexpectedAnswers,
} from './harness';

const topic = uniqueName('llmopt.faults.events');
const dlq = `${topic}.dlq`;
let kafka: PrivateService & { brokers: string };
const scratch = scratchDir('kafka');
const cleanup = cleanups();

beforeAll(async () => {
  kafka = await startPrivateKafka([
    { topic, partitions: 4 },
    { topic: dlq, partitions: 1 },
  ]);
});

afterAll(async () => {
  await cleanup.run();
  await kafka?.destroy();
  scratch.remove();
});

describe('Kafka broker restarted under load', () => {
  it(
    'counts every acknowledged event once, answers 503 while it cannot produce, and resumes',
    { timeout: 240_000 },
    async () => {
      const { api, stream, key } = await startKafkaMode({
        dataDir: scratch.dir,
        brokers: kafka.brokers,
        redisUrl: testEnv.REDIS_URL!,
        topic,
        dlq,
      });
      cleanup.add(api.stop);
      cleanup.add(stream.stop);
      const load = startIngestLoad({ api: api.url, key, total: 3_000, batch: 50, senders: 2, pauseMs: 40 });
      await awaitAcked(load, 600);

      await kafka.stop();
      const notReady = await awaitNotReadyNaming(api.url, 'kafka');
      const refusingFrom = Date.now();
      await eventually(async () => load.answers.filter((a) => a.at > refusingFrom).length >= 5, {
        timeoutMs: 60_000,
        what: 'ingest answers while the broker is down',
      });
      const restartAt = Date.now();
      await kafka.start();

      const counted = await countAfterRecovery({
        processes: [api, stream],
        load,
        databaseUrl: testEnv.DATABASE_URL,
        shardLike: `kafka:${topic}:%`,
      });
      expect(counted).toMatchObject({ acked: 3_000, stored: 3_000, storedAfterResend: 3_000 });
      expect(notReady.failing).toContain('kafka');
      // Once it knows the broker is gone, the API refuses what it cannot make durable.
      const whileDown = load.answers.filter((a) => a.at > refusingFrom && a.at < restartAt);
      expect(whileDown.length).toBeGreaterThan(0);
      expect(whileDown.filter((a) => a.status !== 503)).toEqual([]);
      expect(unexpectedAnswers(load)).toEqual([]);
      expect(api.proc.child.exitCode).toBeNull();
      expect(stream.proc.child.exitCode).toBeNull();
    },
  );
});
