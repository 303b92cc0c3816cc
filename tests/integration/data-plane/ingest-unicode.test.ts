/**
 * Arbitrary Unicode in every string field of every event type, sent through each real front door —
 * POST /v1/events (JSON and NDJSON), the gRPC IngestService, and a message produced straight to the Kafka
 * topic the stream consumes — into real PostgreSQL. Whatever the text (NUL, lone surrogates,
 * non-characters, far too long): never a 5xx or a gRPC error, a refusal names the field (Kafka: a dead
 * letter with the reason), what is accepted is stored exactly, the shards keep committing, and every
 * count is exact.
 */
// First: zod-openapi must extend zod before any domain schema is built.
import '@hono/zod-openapi';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGrpcServer, type GrpcServer } from '../../../api/grpc/server';
import { checkEvent } from '../../../domain/events';
import { createAggregatesRepo } from '../../../pipeline/adapters/store';
import { startKafkaStream, type RunningStream } from '../../../pipeline/adapters/kafka';
import { IngestServiceClient, type IngestResponse } from '../../../proto/gen/llmopt/v1/ingest';
import { eventually, testEnv, uniqueName } from '../../helpers/env';
import { connectKafka, type KafkaClients } from '../../helpers/kafka';
import { call, startTestSystem, type TestSystem } from '../../helpers/system';
import { EVENT_TEXT_FIELDS } from '../../unit/data-plane/event-text-fixtures';

let sys: TestSystem;
let grpcServer: GrpcServer;
let ingestClient: IngestServiceClient;
let kafka: KafkaClients;
let stream: RunningStream;
let redis: Redis;
const topic = uniqueName('llmopt.test.unicode');

beforeAll(async () => {
  sys = await startTestSystem({
    workers: false,
    ingest: {
      name: uniqueName('unicode'),
      env: { DATA_DIR: mkdtempSync(join(tmpdir(), 'llmopt-unicode-')), INGEST_FLUSH_INTERVAL_MS: 100 },
    },
  });
  grpcServer = await startGrpcServer({ ...sys.deps, ingest: sys.ingest!.front }, sys.app.security, {
    host: '127.0.0.1',
    port: 0,
  });
  ingestClient = new IngestServiceClient(`127.0.0.1:${grpcServer.port}`, grpc.credentials.createInsecure());
  kafka = await connectKafka('llmopt-test-unicode');
  await kafka.admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic, numPartitions: 1 },
      { topic: `${topic}.dlq`, numPartitions: 1 },
    ],
  });
  redis = new Redis(testEnv.REDIS_URL!);
  stream = await startKafkaStream({
    env: { ...testEnv, INGEST_FLUSH_INTERVAL_MS: 100 },
    db: sys.deps.db,
    logger: sys.deps.logger,
    redis,
    topic,
    dlqTopic: `${topic}.dlq`,
    groupId: uniqueName('llmopt-test-unicode'),
  });
});
afterAll(async () => {
  await stream?.stop();
  await kafka?.disconnect();
  redis?.disconnect();
  ingestClient?.close();
  await grpcServer?.stop();
  await sys?.stop();
});

const T = Date.now() - 60_000;
const PATHS = ['json', 'ndjson', 'grpc', 'kafka'] as const;
type Path = (typeof PATHS)[number];

/** Any UTF-16: NUL, lone surrogates, non-characters, astral code points, and strings far too long. */
const hostile = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.constantFrom('\u0000', 'a\u0000b', '\ud800', 'x\udfff', '\ud83d', '\ufffe\uffff', '\u{10ffff}\ufdd0'),
  fc.string({ unit: 'binary', minLength: 480, maxLength: 5000 }),
);
const case_ = fc.record({
  template: fc.constantFrom(...EVENT_TEXT_FIELDS),
  fieldIndex: fc.nat(),
  value: hostile,
  path: fc.constantFrom(...PATHS),
});

/** What the front door said about each event: accepted, or the paths it named refusing it. */
async function send(
  path: Path,
  events: Record<string, unknown>[],
): Promise<{ refused: Map<number, string> }> {
  if (path === 'json' || path === 'ndjson') {
    const body = path === 'json' ? events : events.map((e) => JSON.stringify(e)).join('\n');
    const headers: Record<string, string> =
      path === 'ndjson' ? { 'content-type': 'application/x-ndjson' } : {};
    const r = await call(sys, 'POST', '/v1/events', body, headers);
    expect(r.status).toBeLessThan(500);
    const list = (r.status === 202 ? r.body.errors : r.body.rejected) as {
      index: number;
      errors: { path: string }[];
    }[];
    return { refused: new Map(list.map((e) => [e.index, e.errors.map((x) => x.path).join(' ')])) };
  }
  if (path === 'grpc') {
    const key = await sys.keyFor('ingest');
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${key}`);
    const res = await new Promise<IngestResponse>((resolve, reject) =>
      ingestClient.ingestBatch({ events }, metadata, (err, r) => (err ? reject(err) : resolve(r))),
    );
    return { refused: new Map(res.errors.map((e) => [e.index, e.errors.join(' ')])) };
  }
  await kafka.producer.send({
    topic,
    acks: -1,
    messages: events.map((e) => ({ key: String(e.id), value: JSON.stringify(e) })),
  });
  // Decided by the stream: counted, or a dead letter.
  return { refused: new Map() };
}

async function windows(target: string) {
  return createAggregatesRepo(sys.deps.db).query({
    target,
    from: new Date(T - 3_600_000).toISOString(),
    to: new Date(Date.now() + 60_000).toISOString(),
  });
}

describe('hostile text through every front door', () => {
  it('is refused naming its field or stored exactly; shards keep committing and counts stay exact', async () => {
    const expected: {
      target: string;
      count: number;
      errorType?: string;
      path: Path;
      hostileId: string;
      refused: boolean;
    }[] = [];
    let kafkaMessages = 0;
    let run = 0;
    await fc.assert(
      fc.asyncProperty(case_, async ({ template, fieldIndex, value, path }) => {
        const target = `unicode-${run++}-${uniqueName('t')}`;
        const field = template.fields[fieldIndex % template.fields.length]!;
        const hostileEvent = {
          ...template.event,
          id: `${target}-h`,
          target,
          timestamp: new Date(T).toISOString(),
          [field]: value,
        };
        const control = {
          type: 'llm.request',
          id: `${target}-c`,
          timestamp: new Date(T).toISOString(),
          target,
          request_id: `${target}-rc`,
          model: 'gpt-4o',
          provider: 'openai',
          latency_ms: 10,
          input_tokens: 1,
          output_tokens: 1,
        };
        const { refused } = await send(path, [hostileEvent, control]);
        const isRequest = template.event.type === 'llm.request';
        let counted: boolean;
        if (path === 'kafka') {
          kafkaMessages += 2;
          // The stream decides with the same validator; a refused message becomes a dead letter.
          counted = checkEvent(hostileEvent, Date.now()).ok;
        } else {
          expect(refused.has(1)).toBe(false);
          counted = !refused.has(0);
          // Refusals name the field. gRPC carries strings as UTF-8, so only NUL reaches it unchanged.
          if (!counted) expect(refused.get(0)).toContain(`[0].${field}`);
          if (value.includes('\u0000') || path !== 'grpc')
            expect(counted).toBe(checkEvent(hostileEvent, Date.now()).ok);
        }
        expected.push({
          target,
          count: 1 + (isRequest && counted ? 1 : 0),
          path,
          hostileId: hostileEvent.id,
          refused: !counted,
          ...(isRequest && counted && field === 'error_type' && path !== 'grpc' ? { errorType: value } : {}),
        });
      }),
      { numRuns: 60 },
    );

    await sys.ingest!.pipeline.drain();
    await eventually(
      async () => {
        const cps = await createAggregatesRepo(sys.deps.db).checkpoints(`kafka:${topic}:`);
        return cps.reduce((s, c) => s + c.nextOffset, 0) === kafkaMessages;
      },
      { timeoutMs: 60_000, what: 'every Kafka message committed' },
    );
    expect(() => sys.ingest!.pipeline.health()).not.toThrow();
    for (const e of expected) {
      const ws = await windows(e.target);
      expect({ target: e.target, path: e.path, count: ws.reduce((s, w) => s + w.count, 0) }).toEqual({
        target: e.target,
        path: e.path,
        count: e.count,
      });
      // Stored exactly: an accepted error_type is read back as the very string that was sent.
      if (e.errorType !== undefined) expect(ws.flatMap((w) => Object.keys(w.errors))).toContain(e.errorType);
    }
    // Kafka: every hostile message not counted is a dead letter with its reason and exact bytes.
    const letters = await createAggregatesRepo(sys.deps.db).listDeadLetters({
      shardPrefix: `kafka:${topic}:`,
      limit: 500,
    });
    const kafkaRefused = expected.filter((e) => e.path === 'kafka' && e.refused).map((e) => e.hostileId);
    expect(letters.map((d) => d.eventId).sort()).toEqual(kafkaRefused.sort());
    for (const d of letters) expect(d.reasonCode).toBe('invalid_event');
  });
});
