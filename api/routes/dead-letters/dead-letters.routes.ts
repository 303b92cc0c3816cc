/**
 * Contract of the ingest dead letters: offsets a shard passed without counting them (too late, not a
 * valid event, or not storable), listed with their reason and exact bytes, and replayed through the
 * ingest front door.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { DEAD_LETTER_REASONS } from '../../../pipeline/adapters/store';
import { jsonResponse, pageOf, problemResponse } from '../../lib/schemas';

export const DeadLetterSchema = z
  .object({
    id: z.number().int(),
    shard: z.string().describe('wal:<name> (embedded) or kafka:<topic>:<partition>'),
    offset: z.number().int(),
    event_id: z.string().nullable(),
    reason: z.string().describe('"<reason_code>: <detail>"'),
    reason_code: z.enum(DEAD_LETTER_REASONS),
    payload: z
      .unknown()
      .describe(
        'The payload as JSON, exactly as it arrived (NUL and lone surrogates as \\u escapes); null when it is not JSON',
      ),
    raw_base64: z.string().describe('The payload bytes exactly as they arrived, base64'),
    created_at: z.string(),
    replayed_at: z.string().nullable(),
  })
  .openapi('IngestDeadLetter');

const tags = ['ingest'];

export const listDeadLetters = createRoute({
  method: 'get',
  path: '/v1/ingest/dead-letters',
  tags,
  summary: 'Ingest dead letters, newest first, with the reason of each',
  request: {
    query: z
      .object({
        reason: z.enum(DEAD_LETTER_REASONS).optional(),
        shard: z.string().max(300).optional().describe('Shard name prefix, e.g. kafka:llmopt.events:'),
        include_replayed: z.enum(['true', 'false']).default('false'),
        limit: z.coerce.number().int().min(1).max(500).default(100),
        cursor: z.string().max(200).optional(),
      })
      .strict(),
  },
  responses: {
    200: jsonResponse(pageOf(DeadLetterSchema), 'A page of dead letters'),
    400: problemResponse('Invalid query; `errors` names each parameter'),
  },
});

export const replayDeadLetter = createRoute({
  method: 'post',
  path: '/v1/ingest/dead-letters/{id}/replay',
  tags,
  summary: 'Ingest a dead letter again through the front door (validated like any event)',
  description:
    'Accepted: the event is durable again (deduplicated by its id) and the dead letter is marked replayed. ' +
    'A payload that is still not a valid event answers 422 with the reason and stays listed.',
  request: { params: z.object({ id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER) }) },
  responses: {
    202: jsonResponse(
      z.object({ id: z.number().int(), accepted: z.number().int(), replayed_at: z.string() }),
      'Accepted again',
    ),
    404: problemResponse('No such dead letter'),
    409: problemResponse('Already replayed'),
    422: problemResponse('Still not a valid event; `errors` names each field'),
    429: problemResponse('Ingest rate limit exceeded; see Retry-After'),
    503: problemResponse('Ingest unavailable; see Retry-After'),
  },
});
