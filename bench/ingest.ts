/**
 * Ingest throughput, end to end into durable aggregates:
 *  - HTTP batches on embedded defaults (WAL + in-process pipeline, in-process dedup) over a real socket,
 *    the shard on the API thread and then in a worker thread (INGEST_SHARD_THREAD);
 *  - Kafka: produce with acks=all, consume with the stream's consumer group, Redis dedup;
 * both committed to PostgreSQL (DATABASE_URL), with p50/p99 ack latency; beside them, the rate at which
 * the same payload is merely JSON-parsed (the ceiling). `npx tsx bench/ingest.ts [--json]`.
 */
import '@hono/zod-openapi';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { Redis } from 'ioredis';
import { createApp } from '../api/app';
import { compose } from '../app/compose';
import { TelemetryEvent } from '../domain/events';
import { createPool } from '../adapters/db/pool';
import { createApiKeysRepo } from '../adapters/db/repos/api-keys';
import { loadEnv } from '../platform/env';
import { startEmbeddedIngest } from '../pipeline';
import { createKafka, KafkaSink, startKafkaStream } from '../pipeline/adapters/kafka';
import { createLogger } from '../platform/logger';
import { createMetrics } from '../platform/metrics';
import { createAggregatesRepo } from '../pipeline/adapters/store';
import { makeEvents, runClients, runClientsInWorker, type ClientPlan } from './ingest-client';

type Figures = Record<string, number | string>;

const BATCH = 1000;
const HTTP_SECONDS = Number(process.env.BENCH_INGEST_SECONDS ?? 10);
const HTTP_CLIENTS = 8;
const KAFKA_EVENTS = Number(process.env.BENCH_KAFKA_EVENTS ?? 200_000);
/** `worker` (default): the HTTP load generator runs in its own thread; `inline`: on the server's. */
const CLIENT_MODE = process.env.BENCH_INGEST_CLIENT === 'inline' ? 'inline' : 'worker';
/** Concurrent acks=all sends of one batch each, like HTTP clients of the API. */
const KAFKA_SENDERS = 8;

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
const round = (n: number, d = 1) => Number(n.toFixed(d));

function parseCeiling(body: string, events: number): Figures {
  const started = performance.now();
  let n = 0;
  while (performance.now() - started < 2_000) {
    JSON.parse(body);
    n += events;
  }
  const parseRate = n / ((performance.now() - started) / 1000);
  const sample = JSON.parse(body) as unknown[];
  const s2 = performance.now();
  let v = 0;
  while (performance.now() - s2 < 2_000) for (const e of sample) if (TelemetryEvent.safeParse(e).success) v++;
  return {
    json_parse_ceiling_events_per_s: Math.round(parseRate),
    zod_validate_events_per_s: Math.round(v / ((performance.now() - s2) / 1000)),
  };
}

/**
 * One HTTP run; `thread`: the shard in a worker thread (INGEST_SHARD_THREAD=true). Its figures are
 * prefixed `http_` (on the API thread) or `http_thread_`, each with its ratio to the ceiling.
 */
async function httpBench(thread: boolean): Promise<Figures> {
  const env = {
    ...loadEnv(),
    INGEST_SHARD_THREAD: thread,
    KAFKA_BROKERS: undefined,
    DATA_DIR: mkdtempSync(join(tmpdir(), 'llmopt-bench-')),
    INGEST_RATE_LIMIT_EPS: 100_000_000,
    INGEST_RATE_LIMIT_BURST: 100_000_000,
  };
  const logger = createLogger('bench', 'silent');
  // The API's composition (app/compose.ts); routers are built over a real client, never starting a workflow.
  const c = await compose(env, {
    logger,
    metrics: createMetrics('bench'),
    migrate: true,
    poolMax: 10,
    temporal: true,
  });
  const { db } = c;
  const ingest = await startEmbeddedIngest({ env, db, logger, name: `bench-${Date.now()}` });
  const app = createApp({ ...c, checks: [], metricsSources: [], ingest: ingest.front });
  const key = (await createApiKeysRepo(db).create({ name: 'bench', roles: ['ingest'], createdBy: 'bench' }))
    .key;
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/events`;
  const target = `bench-http-${Date.now()}`;

  const plan: ClientPlan = {
    url,
    key,
    target,
    seconds: HTTP_SECONDS,
    clients: HTTP_CLIENTS,
    batch: BATCH,
    maxEventsPerSecond: 150_000,
  };
  let cpuBefore = process.cpuUsage();
  const ready = () => void (cpuBefore = process.cpuUsage());
  const { sent, latencies, startedAt, ackedAt } =
    CLIENT_MODE === 'worker' ? await runClientsInWorker(plan, ready) : await runClients(plan, ready);
  await ingest.pipeline.drain(120_000);
  const doneAt = performance.timeOrigin + performance.now();
  const cpu = process.cpuUsage(cpuBefore);
  latencies.sort((a, b) => a - b);
  const stored = await createAggregatesRepo(db).query({
    target,
    from: new Date(Date.now() - 3_600_000).toISOString(),
    to: new Date(Date.now() + 3_600_000).toISOString(),
  });
  const count = stored.reduce((s, w) => s + w.count, 0);
  await new Promise<void>((r) => server.close(() => r()));
  await ingest.stop();
  await c.close();
  const acked = sent / ((ackedAt - startedAt) / 1000);
  const figures: Figures = {
    batch_events: BATCH,
    clients: HTTP_CLIENTS,
    client_thread: CLIENT_MODE,
    events_acked: sent,
    events_aggregated: count,
    acked_events_per_s: Math.round(acked),
    end_to_end_events_per_s: Math.round(count / ((doneAt - startedAt) / 1000)),
    ack_p50_ms: round(pct(latencies, 0.5)),
    ack_p99_ms: round(pct(latencies, 0.99)),
    // CPU time of the whole process (server and the clients' sending) per event: unlike the rates,
    // barely moved by other load on a shared machine.
    process_cpu_us_per_event: round((cpu.user + cpu.system) / Math.max(1, count), 2),
  };
  const prefix = thread ? 'http_thread_' : 'http_';
  return Object.fromEntries(Object.entries(figures).map(([k, v]) => [prefix + k, v]));
}

/** Acknowledged events/s of each HTTP run as a share of the JSON.parse ceiling of this same run. */
function ratios(figures: Figures): Figures {
  const ceiling = Number(figures.json_parse_ceiling_events_per_s);
  const ratio = (acked: unknown) => round(Number(acked) / ceiling, 3);
  return {
    http_acked_to_ceiling_ratio: ratio(figures.http_acked_events_per_s),
    http_thread_acked_to_ceiling_ratio: ratio(figures.http_thread_acked_events_per_s),
  };
}

async function kafkaBench(): Promise<Figures> {
  const base = loadEnv();
  if (KAFKA_EVENTS <= 0) return { kafka: 'skipped: BENCH_KAFKA_EVENTS=0' };
  if (!base.KAFKA_BROKERS || !base.REDIS_URL)
    return { kafka: 'skipped: KAFKA_BROKERS and REDIS_URL must be set' };
  const env = { ...base, INGEST_FLUSH_INTERVAL_MS: 500 };
  const logger = createLogger('bench', 'silent');
  const db = createPool(env.DATABASE_URL, 10);
  const redis = new Redis(env.REDIS_URL!);
  const kafka = createKafka(env.KAFKA_BROKERS!, 'llmopt-bench');
  const admin = kafka.admin();
  await admin.connect();
  const topic = `llmopt.bench.${Date.now()}`;
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic, numPartitions: 8 },
      { topic: `${topic}.dlq`, numPartitions: 1 },
    ],
  });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const sink = new KafkaSink(producer, topic);
  const target = `bench-kafka-${Date.now()}`;
  const all = makeEvents(target, KAFKA_EVENTS).map((event) => ({
    event: event as never,
    ts: Date.parse(event.timestamp),
  }));

  const latencies: number[] = [];
  const produceStart = performance.now();
  let next = 0;
  const sender = async () => {
    while (next < all.length) {
      const chunk = all.slice(next, next + BATCH);
      next += BATCH;
      const t = performance.now();
      await sink.accept(chunk);
      latencies.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: KAFKA_SENDERS }, sender));
  const produced = performance.now() - produceStart;
  latencies.sort((a, b) => a - b);

  const repo = createAggregatesRepo(db);
  const consumeStart = performance.now();
  const stream = await startKafkaStream({
    env,
    db,
    logger,
    redis,
    topic,
    dlqTopic: `${topic}.dlq`,
    groupId: `bench-${Date.now()}`,
  });
  const total = all.length;
  for (;;) {
    const cps = await repo.checkpoints(`kafka:${topic}:`);
    if (cps.reduce((s, c) => s + c.nextOffset, 0) >= total) break;
    if (performance.now() - consumeStart > 300_000)
      throw new Error('kafka consumer did not finish within 300 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const consumed = performance.now() - consumeStart;
  await stream.stop();
  sink.close();
  await producer.disconnect();
  await admin.deleteTopics({ topics: [topic, `${topic}.dlq`] }).catch(() => undefined);
  await admin.disconnect();
  redis.disconnect();
  await db.end();
  return {
    kafka_events: total,
    kafka_senders: KAFKA_SENDERS,
    kafka_produce_acks_all_events_per_s: Math.round(total / (produced / 1000)),
    kafka_produce_ack_p50_ms: round(pct(latencies, 0.5)),
    kafka_produce_ack_p99_ms: round(pct(latencies, 0.99)),
    kafka_consume_to_durable_aggregates_events_per_s: Math.round(total / (consumed / 1000)),
  };
}

export async function runIngestBench(): Promise<Figures> {
  // The same payload as a client batch (never sent: the clients make their own).
  const ceiling = parseCeiling(JSON.stringify(makeEvents('bench-ceiling', BATCH)), BATCH);
  // Back to back, so both see the same load on a shared machine.
  const http = { ...ceiling, ...(await httpBench(false)), ...(await httpBench(true)) };
  const kafka = await kafkaBench().catch((err: unknown) => ({
    kafka_error: err instanceof Error ? err.message : String(err),
  }));
  return { ...http, ...ratios(http), ...kafka };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const figures = await runIngestBench();
  for (const [k, v] of Object.entries(figures)) process.stdout.write(`${k.padEnd(50)} ${v}\n`);
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(figures)}\n`);
  process.exit(0);
}
