/**
 * The Kafka path over real Kafka, PostgreSQL and Redis: the stream consumes a topic in a consumer group,
 * dead-letters poison messages with the reason in headers, two consumers in one group produce exactly
 * the aggregates of the event set, and a stream process killed with SIGKILL mid-stream restarts to exact
 * totals (nothing lost, nothing counted twice).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { Admin, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Db } from '../../../adapters/db/pool';
import { createAggregatesRepo } from '../../../pipeline/adapters/store';
import { createLogger } from '../../../platform/logger';
import {
  createKafka,
  KafkaSink,
  startKafkaStream,
  type RunningStream,
} from '../../../pipeline/adapters/kafka';
import { eventually, testEnv, uniqueName } from '../../helpers/env';
import { connectKafka, type KafkaClients } from '../../helpers/kafka';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const logger = createLogger('test', testEnv.LOG_LEVEL);
let db: Db;
let redis: Redis;
let kafka: KafkaClients;
let admin: Admin;
let producer: Producer;

beforeAll(async () => {
  db = createPool(testEnv.DATABASE_URL, 5);
  redis = new Redis(testEnv.REDIS_URL!);
  kafka = await connectKafka('llmopt-test');
  ({ admin, producer } = kafka);
});
afterAll(async () => {
  await kafka?.disconnect();
  redis?.disconnect();
  await db?.end();
});

async function topics(partitions: number) {
  const topic = uniqueName('llmopt.test.events');
  const dlq = `${topic}.dlq`;
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic, numPartitions: partitions },
      { topic: dlq, numPartitions: 1 },
    ],
  });
  return { topic, dlq, group: uniqueName('llmopt-test-group') };
}

const BASE = Date.now() - 60_000;

function events(target: string, n: number, from = 0) {
  return Array.from({ length: n }, (_, i) => {
    const k = from + i;
    const event = {
      type: 'llm.request' as const,
      id: `${target}-${k}`,
      timestamp: new Date(BASE + (k % 600) * 100).toISOString(),
      target,
      segment: 'default',
      arm: k % 3 === 0 ? 'a' : 'b',
      request_id: `${target}-r${k}`,
      model: 'gpt-4o',
      provider: 'openai',
      latency_ms: 50 + (k % 200),
      input_tokens: k % 97,
      output_tokens: k % 13,
      cost_usd: (k % 7) / 1000,
      status: k % 10 === 0 ? ('error' as const) : ('ok' as const),
    };
    return { event, ts: Date.parse(event.timestamp) };
  });
}

const expected = (list: ReturnType<typeof events>) => ({
  count: list.length,
  errors: list.filter((e) => e.event.status === 'error').length,
  input_tokens: list.reduce((s, e) => s + e.event.input_tokens, 0),
  cost_nusd: list.reduce((s, e) => s + Math.round(e.event.cost_usd * 1e9), 0),
  arm_a: list.filter((e) => e.event.arm === 'a').length,
});

async function totals(target: string) {
  const windows = await createAggregatesRepo(db).query({
    target,
    from: new Date(BASE - 3_600_000).toISOString(),
    to: new Date(Date.now() + 3_600_000).toISOString(),
  });
  return {
    count: windows.reduce((s, w) => s + w.count, 0),
    errors: windows.reduce((s, w) => s + (w.count - w.ok), 0),
    input_tokens: windows.reduce((s, w) => s + w.input_tokens, 0),
    cost_nusd: windows.reduce((s, w) => s + Math.round(w.cost_usd * 1e9), 0),
    arm_a: windows.filter((w) => w.arm === 'a').reduce((s, w) => s + w.count, 0),
  };
}

/** Sum of committed offsets over the topic's shards, i.e. messages durably reflected. */
async function committed(topic: string): Promise<number> {
  const cps = await createAggregatesRepo(db).checkpoints(`kafka:${topic}:`);
  return cps.reduce((s, c) => s + c.nextOffset, 0);
}

async function send(topic: string, list: ReturnType<typeof events>) {
  const sink = new KafkaSink(producer, topic);
  for (let i = 0; i < list.length; i += 500) await sink.accept(list.slice(i, i + 500));
  sink.close();
}

function stream(t: { topic: string; dlq: string; group: string }, clientId: string): Promise<RunningStream> {
  return startKafkaStream({
    env: { ...testEnv, INGEST_FLUSH_INTERVAL_MS: 200 },
    db,
    logger,
    redis,
    topic: t.topic,
    dlqTopic: t.dlq,
    groupId: t.group,
    clientId,
  });
}

describe('Kafka stream', () => {
  it('dead-letters poison messages with the reason in headers and processes the rest', async () => {
    const t = await topics(2);
    const target = uniqueName('kafka-dlq');
    const good = events(target, 100);
    await send(t.topic, good);
    await producer.send({
      topic: t.topic,
      acks: -1,
      messages: [
        { key: 'x', value: 'garbage{' },
        { key: 'y', value: JSON.stringify({ type: 'llm.nope', id: 'n1' }) },
        { key: 'z', value: JSON.stringify({ ...good[0]!.event, id: 'neg', latency_ms: -1 }) },
      ],
    });
    const s = await stream(t, 'dlq-test');
    try {
      await eventually(async () => (await committed(t.topic)) === 103, {
        timeoutMs: 40_000,
        what: 'all 103 messages committed',
      });
      expect(await totals(target)).toEqual(expected(good));

      const consumer = createKafka(testEnv.KAFKA_BROKERS!, 'dlq-reader').consumer({
        groupId: uniqueName('dlq-reader'),
      });
      await consumer.connect();
      await consumer.subscribe({ topic: t.dlq, fromBeginning: true });
      const reasons: string[] = [];
      await consumer.run({
        eachMessage: async ({ message }) => void reasons.push(String(message.headers?.['llmopt-reason'])),
      });
      await eventually(async () => reasons.length >= 3, { timeoutMs: 30_000, what: 'three dead letters' });
      await consumer.disconnect();
      expect(reasons.sort()).toEqual([
        expect.stringMatching(/^invalid_event: latency_ms/),
        expect.stringMatching(/^invalid_event: type: unknown event type/),
        expect.stringMatching(/^invalid_json/),
      ]);
    } finally {
      await s.stop();
    }
  });

  it('two consumers in one group split the partitions and produce exactly the aggregates of the event set', async () => {
    const t = await topics(4);
    const target = uniqueName('kafka-group');
    const list = events(target, 3000);
    const [one, two] = await Promise.all([stream(t, 'member-1'), stream(t, 'member-2')]);
    try {
      await send(t.topic, list);
      await send(t.topic, list.slice(0, 500)); // a producer retry resends: dedup counts each id once
      await eventually(async () => (await committed(t.topic)) === 3500, {
        timeoutMs: 60_000,
        what: 'all messages committed',
      });
      expect(await totals(target)).toEqual(expected(list));
      // Both members did work (the group split the partitions).
      expect(one.shards().size + two.shards().size).toBeGreaterThanOrEqual(4);
    } finally {
      await Promise.all([one.stop(), two.stop()]);
    }
  });

  it('a stream process killed with SIGKILL mid-stream restarts to exact totals', async () => {
    const t = await topics(4);
    const target = uniqueName('kafka-crash');
    const list = events(target, 6000);
    const start = (): ChildProcess =>
      spawn(process.execPath, ['--import', 'tsx', 'workers/stream.ts'], {
        cwd: ROOT,
        env: {
          ...process.env,
          DATABASE_URL: testEnv.DATABASE_URL,
          KAFKA_EVENTS_TOPIC: t.topic,
          KAFKA_DLQ_TOPIC: t.dlq,
          KAFKA_CONSUMER_GROUP: t.group,
          INGEST_FLUSH_INTERVAL_MS: '100',
          LOG_LEVEL: 'silent',
        },
        stdio: 'ignore',
      });
    let child = start();
    try {
      await send(t.topic, list.slice(0, 3000));
      // Kill once part, not all, of the stream is durably reflected: some of it is in flight.
      await eventually(async () => (await committed(t.topic)) > 0, {
        timeoutMs: 60_000,
        what: 'a first commit',
      });
      await send(t.topic, list.slice(3000, 4500));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      await send(t.topic, list.slice(4500));
      await send(t.topic, list.slice(1000, 1200)); // and a resend of already counted events
      child = start();
      await eventually(async () => (await committed(t.topic)) === 6200, {
        timeoutMs: 90_000,
        what: 'every message committed after restart',
      });
      expect(await totals(target)).toEqual(expected(list));
    } finally {
      child.kill('SIGKILL');
    }
  });
});
