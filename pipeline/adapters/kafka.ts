/**
 * The Kafka path. The API produces accepted events with acks=all (durable in Kafka before 202), keyed
 * by request_id so a request and its feedback share a partition (and a resend of an id its partition).
 * The stream process consumes in a consumer group: one ShardProcessor per partition, whose offsets live
 * in PostgreSQL with the aggregates (same transaction); Kafka's committed offset follows only after that
 * commit, for lag monitoring. A message that cannot be processed goes to the DLQ with the reason in its
 * headers and to the ingest dead letters (PostgreSQL, with the commit that passes its offset), and the
 * partition moves on.
 */
import {
  Kafka,
  logLevel,
  Partitioners,
  type Consumer,
  type ICustomPartitioner,
  type KafkaMessage,
  type Producer,
  type ProducerConfig,
} from 'kafkajs';
import './kafkajs-idle-timer';
import type { Redis } from 'ioredis';
import { checkEvent, type TelemetryEvent } from '../../domain/events';
import { AppError } from '../../domain/errors';
import { createAggregatesRepo, ShardFencedError } from './store';
import type { Db } from '../../adapters/db/pool';
import type { Env } from '../../platform/env';
import type { Logger } from '../../platform/logger';
import {
  createCommitBreaker,
  createDedup,
  createPriceSource,
  createShardShared,
  ingestObservers,
  shardConfig,
} from '../common';
import type { Metrics } from '../../platform/metrics';
import { streamMetrics } from '../../platform/stage-metrics';
import type { AcceptedEvent, IngestSink } from '../core/types';
import { ShardProcessor, type IngestRecord, type TooLate } from '../core/shard';

/**
 * Kafka's murmur2 (the Java client's, which kafkajs's DefaultPartitioner also uses) in 32-bit integer
 * arithmetic: kafkajs computes it with 64-bit Long objects, a cost per message that shows in profiles.
 */
export function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const tail = length & ~3;
  for (let i = 0; i < tail; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const rest = length & 3;
  if (rest > 0) {
    if (rest === 3) h ^= data[tail + 2]! << 16;
    if (rest >= 2) h ^= data[tail + 1]! << 8;
    h ^= data[tail]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h;
}

/**
 * kafkajs's DefaultPartitioner, faster: an explicit partition, else murmur2 of the key modulo the
 * partition count (so every producer, ours or a Java one, puts a key in the same partition), else
 * kafkajs's own round robin for keyless messages.
 */
export const KeyPartitioner: ICustomPartitioner = () => {
  const keyless = Partitioners.DefaultPartitioner();
  return (args) => {
    const { partitionMetadata, message } = args;
    if (message.partition !== undefined && message.partition !== null) return message.partition;
    if (message.key === undefined || message.key === null) return keyless(args);
    const key = Buffer.isBuffer(message.key) ? message.key : Buffer.from(String(message.key));
    return (murmur2(key) & 0x7fffffff) % partitionMetadata.length;
  };
};

/** A Kafka client whose producers partition with KeyPartitioner unless told otherwise. */
class LlmoptKafka extends Kafka {
  override producer(config?: ProducerConfig): Producer {
    return super.producer({ createPartitioner: KeyPartitioner, ...config });
  }
}

export function createKafka(brokers: string, clientId: string): Kafka {
  return new LlmoptKafka({
    clientId,
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
    retry: { retries: 5 },
  });
}

/** Key: request_id when the event has one (joins stay in one partition), else the event id. */
export const partitionKey = (e: TelemetryEvent): string =>
  'request_id' in e && typeof e.request_id === 'string' ? e.request_id : e.id;

export class KafkaSink implements IngestSink {
  readonly kind = 'kafka' as const;
  private readonly breaker = createCommitBreaker('kafka');

  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
  ) {}

  readiness() {
    return this.breaker.check();
  }

  async accept(events: readonly AcceptedEvent[]): Promise<void> {
    try {
      await this.breaker.guard(() =>
        this.producer.send({
          topic: this.topic,
          acks: -1,
          messages: events.map((e) => ({ key: partitionKey(e.event), value: JSON.stringify(e.event) })),
        }),
      );
    } catch (err) {
      throw new AppError('unavailable', `broker did not acknowledge the batch: ${(err as Error).message}`, {
        retryAfterSeconds: 2,
      });
    }
  }

  close(): void {
    this.breaker.breaker.shutdown();
  }
}

export interface StreamOptions {
  env: Env;
  db: Db;
  logger: Logger;
  redis?: Redis;
  topic?: string;
  dlqTopic?: string;
  groupId?: string;
  clientId?: string;
  /** The process's metrics: dead letters by reason are counted there. */
  metrics?: Metrics;
}

export interface RunningStream {
  consumer: Consumer;
  /** Per-partition state, for tests and /metrics. */
  shards(): Map<number, ShardProcessor>;
  stop(): Promise<void>;
}

/** Serializes work per partition: processing and the timer's flush never interleave. */
class Lane {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

export async function startKafkaStream(opts: StreamOptions): Promise<RunningStream> {
  const { env, db, logger } = opts;
  const topic = opts.topic ?? env.KAFKA_EVENTS_TOPIC;
  const dlqTopic = opts.dlqTopic ?? env.KAFKA_DLQ_TOPIC;
  const kafka = createKafka(env.KAFKA_BROKERS!, opts.clientId ?? 'llmopt-stream');
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const consumer = kafka.consumer({
    groupId: opts.groupId ?? env.KAFKA_CONSUMER_GROUP,
    allowAutoTopicCreation: false,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const repo = createAggregatesRepo(db);
  const dedup = createDedup(env, opts.redis);
  const shared = createShardShared(env, logger, opts.redis);
  const { onDeadLetters, shards: observer } = ingestObservers(logger, opts.metrics);
  const lag = opts.metrics && streamMetrics(opts.metrics.registry).consumerLag;
  const prices = createPriceSource(db, logger);
  await prices.refresh();
  const shards = new Map<number, ShardProcessor>();
  const lanes = new Map<number, Lane>();
  const lastFlush = new Map<number, number>();
  const lane = (p: number) => lanes.get(p) ?? (lanes.set(p, new Lane()), lanes.get(p)!);

  const deadLetter = async (
    partition: number,
    items: { message: KafkaMessage | null; event?: TelemetryEvent; offset: number; reason: string }[],
  ) => {
    if (items.length === 0) return;
    await producer.send({
      topic: dlqTopic,
      acks: -1,
      messages: items.map((d) => ({
        key: d.message?.key ?? null,
        value: d.message?.value ?? Buffer.from(JSON.stringify(d.event ?? null)),
        headers: {
          'llmopt-reason': d.reason.slice(0, 1000),
          'llmopt-source-topic': topic,
          'llmopt-source-partition': String(partition),
          'llmopt-source-offset': String(d.offset),
        },
      })),
    });
  };

  const shardFor = async (partition: number): Promise<ShardProcessor> => {
    let shard = shards.get(partition);
    if (shard) return shard;
    shard = new ShardProcessor(`kafka:${topic}:${partition}`, shardConfig(env), {
      repo,
      dedup,
      prices: prices.get,
      ...shared,
      onDeadLetters,
      ...(observer ? { observer } : {}),
      deadLetter: (records: TooLate[]) =>
        deadLetter(
          partition,
          records.map((r) => ({
            message: null,
            event: r.event,
            offset: r.offset,
            reason: `too_late: event time ${r.event.timestamp} is beyond the allowed lateness (watermark ${new Date(r.watermark).toISOString()})`,
          })),
        ),
    });
    const next = await shard.open();
    shards.set(partition, shard);
    lastFlush.set(partition, Date.now());
    // Resume exactly where the last durable commit left off, whatever Kafka's own offset says.
    consumer.seek({ topic, partition, offset: String(next) });
    logger.info({ partition, next }, 'claimed partition');
    return shard;
  };

  const flush = async (partition: number) => {
    const shard = shards.get(partition);
    if (!shard) return;
    try {
      const { committed } = await shard.flush();
      lastFlush.set(partition, Date.now());
      await consumer.commitOffsets([{ topic, partition, offset: String(committed) }]).catch(() => undefined);
    } catch (err) {
      if (err instanceof ShardFencedError) {
        // Another member owns it now (rebalance): forget our state; the owner replays from the database.
        shards.delete(partition);
        logger.warn({ partition }, 'partition claimed by another consumer; dropped local state');
        return;
      }
      throw err;
    }
  };

  const flushing = new Set<number>();
  /** One flush at a time per partition, after whatever its lane is doing; failures retry on the timer. */
  const scheduleFlush = (p: number) => {
    if (flushing.has(p)) return;
    flushing.add(p);
    void lane(p)
      .run(() => flush(p))
      .catch((err: unknown) => logger.error({ err, partition: p }, 'commit failed; will retry'))
      .finally(() => flushing.delete(p));
  };

  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    const assigned = new Set<number>(e.payload.memberAssignment[topic] ?? []);
    for (const p of [...shards.keys()]) if (!assigned.has(p)) shards.delete(p);
  });

  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    // Each partition has its own lane, so batches of different partitions may overlap their waits on
    // Redis and PostgreSQL; more than the assigned partitions is harmless (kafkajs caps it).
    partitionsConsumedConcurrently: 16,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      const partition = batch.partition;
      await lane(partition).run(async () => {
        const existed = shards.has(partition);
        const shard = await shardFor(partition);
        if (!existed && batch.messages.length > 0 && Number(batch.messages[0]!.offset) !== shard.nextOffset) {
          // The fetch predates our seek; the next batch starts at the stored offset.
          return;
        }
        const records: IngestRecord[] = [];
        const poison: { message: KafkaMessage; offset: number; reason: string }[] = [];
        for (const m of batch.messages) {
          if (!isRunning() || isStale()) break;
          const offset = Number(m.offset);
          if (offset < shard.nextOffset) continue;
          let raw: unknown;
          try {
            raw = JSON.parse(m.value?.toString('utf8') ?? '');
          } catch (err) {
            const reason = `invalid_json: ${(err as Error).message}`;
            poison.push({ message: m, offset, reason });
            records.push(skipRecord(offset, m, null, reason));
            continue;
          }
          // The broker's append time is "now" for the future bound, so a replay decides the same way.
          const r = checkEvent(raw, Number(m.timestamp), env.INGEST_MAX_FUTURE_SKEW_MS);
          if (!r.ok) {
            const reason = `invalid_event: ${r.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`;
            poison.push({ message: m, offset, reason });
            records.push(skipRecord(offset, m, raw, reason));
            continue;
          }
          records.push({ offset, event: r.event, ts: r.ts });
        }
        if (records.length === 0) return;
        await deadLetter(partition, poison);
        await shard.process(records);
        resolveOffset(String(records.at(-1)!.offset));
        lag?.set({ partition }, Math.max(0, Number(batch.highWatermark) - shard.nextOffset));
        // Queued behind this batch on the partition's lane rather than awaited: the consumer fetches on
        // while the commit is in flight, and this partition's next batch waits for it.
        if (Date.now() - (lastFlush.get(partition) ?? 0) >= env.INGEST_FLUSH_INTERVAL_MS)
          scheduleFlush(partition);
        await heartbeat();
      });
    },
  });

  const timer = setInterval(
    () => {
      for (const p of shards.keys())
        if (Date.now() - (lastFlush.get(p) ?? 0) >= env.INGEST_FLUSH_INTERVAL_MS) scheduleFlush(p);
    },
    Math.max(50, Math.floor(env.INGEST_FLUSH_INTERVAL_MS / 2)),
  );
  timer.unref();

  return {
    consumer,
    shards: () => shards,
    async stop() {
      clearInterval(timer);
      await consumer.stop();
      for (const p of [...shards.keys()])
        await lane(p)
          .run(() => flush(p))
          .catch(() => undefined);
      await consumer.disconnect();
      await producer.disconnect();
      prices.close();
    },
  };
}

/**
 * A dead-lettered message still advances the offset: the shard skips it as a non-event and stores it in
 * the ingest dead letters with its commit, the message's bytes exactly as produced.
 */
function skipRecord(offset: number, m: KafkaMessage, parsed: unknown, reason: string): IngestRecord {
  const id = (parsed as { id?: unknown } | null)?.id;
  return {
    offset,
    event: null,
    ts: 0,
    deadLetter: {
      eventId: typeof id === 'string' ? id.slice(0, 200) : null,
      reason,
      payload: parsed ?? null,
      raw: m.value ?? Buffer.alloc(0),
    },
  };
}
