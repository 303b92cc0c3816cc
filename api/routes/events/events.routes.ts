/**
 * Contract of POST /v1/events. The body is read by the handler (not the route validator) because a batch
 * is judged event by event: valid events are accepted even when others are not.
 */
import { z } from '@hono/zod-openapi';
import { TelemetryEvent } from '../../../domain/events';
import { INGEST_REFUSALS } from '../../../pipeline/front';
import { jsonResponse, problemResponse } from '../../lib/schemas';

export const RejectedEventSchema = z.object({
  index: z.number().int(),
  id: z.string().optional(),
  reason: z
    .enum(INGEST_REFUSALS)
    .describe('Why it was refused (the label of llmopt_ingest_events_refused_total)'),
  errors: z.array(z.object({ path: z.string(), message: z.string() })),
});

export const IngestResultSchema = z.object({
  accepted: z.number().int().describe('Events durably accepted (WAL fsync or Kafka acks=all)'),
  rejected: z.number().int(),
  errors: z
    .array(RejectedEventSchema)
    .describe('Per rejected index, each field at fault, e.g. "[3].latency_ms"'),
});

export const postEventsDoc = {
  method: 'post' as const,
  path: '/v1/events',
  tags: ['ingest'],
  summary: 'Ingest telemetry events (JSON array or NDJSON, gzip accepted); idempotent on event id',
  description:
    'Answers 202 once every accepted event is durable. Limits: INGEST_MAX_BATCH_EVENTS events (default 10,000) ' +
    'and API_MAX_BODY_BYTES bytes per request (INGEST_MAX_DECOMPRESSED_BYTES after gzip). Invalid events are ' +
    'listed by index and field and the rest of the batch is accepted; 422 when none is valid. Every string ' +
    'field refuses NUL (U+0000) and lone surrogates (PostgreSQL can store neither exactly); any other Unicode ' +
    'is stored and read back exactly.',
  request: {
    body: {
      content: {
        'application/json': { schema: z.array(TelemetryEvent) },
        'application/x-ndjson': { schema: z.string().describe('One event per line') },
      },
      required: true,
    },
  },
  responses: {
    202: jsonResponse(IngestResultSchema, 'Accepted events are durable; rejected ones are listed'),
    400: problemResponse('Malformed JSON or gzip'),
    413: problemResponse('Too many events or bytes'),
    415: problemResponse('Unsupported Content-Type or Content-Encoding'),
    422: problemResponse('No event of the batch is valid; `errors` names each index and field'),
    429: problemResponse('Rate limit of the source exceeded; see Retry-After'),
    503: problemResponse('Ingest buffer full or broker/database unavailable; see Retry-After'),
  },
};
