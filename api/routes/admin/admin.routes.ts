/** Contracts of the operator's resource: the figures to look at first, and the flush of every cache. */
import { createRoute, z } from '@hono/zod-openapi';
import { jsonResponse, problemResponse } from '../../lib/schemas';

export const AdminStatsSchema = z
  .object({
    at: z.string().describe('When the figures were read (RFC 3339)'),
    targets: z.number().int().describe('Targets configured'),
    events: z.object({
      today: z
        .number()
        .int()
        .describe(
          "llm.request events aggregated into today's windows (UTC midnight on, by event time), every shard",
        ),
      last_hour: z.number().int().describe('The same over the windows that started in the last hour'),
      per_second_last_hour: z.number().describe('last_hour / 3600: the recent ingest rate'),
    }),
    open_rollouts: z
      .number()
      .int()
      .describe('Rollouts not finished: pending, running, paused, awaiting approval'),
    awaiting_decisions: z.number().int().describe("Decisions waiting for a person's approval"),
    cycle_backlog: z
      .number()
      .int()
      .nullable()
      .describe(
        'Optimization cycles running now (Temporal visibility); null when visibility did not answer within 2 s',
      ),
    dead_letters: z.object({
      ingest: z.number().int().describe('Ingest dead letters not replayed (GET /v1/ingest/dead-letters)'),
      webhooks: z
        .number()
        .int()
        .describe(
          'Webhook deliveries that exhausted their attempts (GET /v1/webhooks/{id}/deliveries?status=dead_lettered)',
        ),
    }),
  })
  .openapi('AdminStats');

export const CacheFlushSchema = z
  .object({
    flushed_at: z.string(),
    second_tier_keys: z.number().int().describe('Shared (Redis) cache entries deleted; 0 without Redis'),
    scope: z
      .literal('every_process')
      .describe('Every process subscribed to the invalidation bus dropped its in-memory caches'),
  })
  .openapi('CacheFlush');

const tags = ['admin'];

export const getStats = createRoute({
  method: 'get',
  path: '/v1/admin/stats',
  tags,
  summary: 'Counts and rates an operator looks at first',
  description: 'Each figure is one cheap query; the cycle backlog is null when Temporal visibility is slow.',
  responses: { 200: jsonResponse(AdminStatsSchema, 'The figures') },
});

export const flushCache = createRoute({
  method: 'post',
  path: '/v1/admin/cache/flush',
  tags,
  summary: 'Empty the caches of every API replica and worker',
  description:
    'Deletes the shared second tier (Redis), then tells every process through the invalidation bus to drop its ' +
    'first tier (routing configs, stored windows, verified API keys and tokens). Reads go to PostgreSQL until the ' +
    'caches fill again.',
  responses: {
    200: jsonResponse(CacheFlushSchema, 'Flushed'),
    503: problemResponse('This process has no invalidation bus'),
  },
});
