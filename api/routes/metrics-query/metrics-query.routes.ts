/** Contract of the metrics query: series of merged window aggregates for any step. */
import { createRoute, z } from '@hono/zod-openapi';
import { ArmId, SegmentName } from '../../../domain/model';
import { jsonResponse, problemResponse, TargetParam } from '../../lib/schemas';

/** The longest range (and so the widest step) a query may span: ten years, the longest retention. */
export const MAX_RANGE_DAYS = 3_660;
export const MAX_RANGE_MS = MAX_RANGE_DAYS * 86_400_000;

/** "90", "10s", "5m", "1h", "1d" → milliseconds, at most MAX_RANGE_DAYS. */
export const Step = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)?$/, 'a duration such as 10s, 5m, 1h or a number of seconds')
  .transform((v, ctx) => {
    const m = /^(\d+)(ms|s|m|h|d)?$/.exec(v)!;
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
      (m[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'
    ];
    // Enough digits make Infinity, which no bucket arithmetic survives.
    const ms = Number(m[1]) * unit;
    if (ms > MAX_RANGE_MS) {
      ctx.addIssue({ code: 'custom', message: `at most ${MAX_RANGE_DAYS} days` });
      return z.NEVER;
    }
    return ms;
  });

export const MetricsQuery = z.object({
  segment: SegmentName.optional(),
  arm: ArmId.optional(),
  from: z.iso.datetime({ offset: true }).optional().describe('Inclusive start; default one hour before `to`'),
  to: z.iso.datetime({ offset: true }).optional().describe('Exclusive end; default now'),
  step: Step.optional().describe('Bucket width (a multiple of the base window merges exactly); default 1m'),
});

const PercentilesSchema = z.object({
  p50: z.number().nullable(),
  p90: z.number().nullable(),
  p95: z.number().nullable(),
  p99: z.number().nullable(),
});

export const MetricsPoint = z.object({
  start: z.string(),
  end: z.string(),
  count: z.number().int(),
  ok: z.number().int(),
  error_rate: z.number().nullable(),
  errors: z.record(z.string(), z.number()),
  latency: PercentilesSchema,
  ttft: PercentilesSchema,
  latency_mean_ms: z.number().nullable(),
  input_tokens: z.number(),
  output_tokens: z.number(),
  cost_usd: z.number(),
  cache_hits: z.number(),
  quality: z.object({ count: z.number(), mean: z.number().nullable(), variance: z.number().nullable() }),
  feedback: z.object({
    count: z.number(),
    thumbs_up: z.number(),
    thumbs_down: z.number(),
    rating_count: z.number(),
    rating_mean: z.number().nullable(),
    task_completed: z.number(),
    edited: z.number(),
    regenerated: z.number(),
  }),
});

export const MetricsSeries = z
  .object({
    target: z.string(),
    from: z.string(),
    to: z.string(),
    step_ms: z.number().int(),
    base_window_ms: z.number().int(),
    series: z.array(z.object({ segment: z.string(), arm: z.string(), points: z.array(MetricsPoint) })),
  })
  .openapi('MetricsSeries');

export const getMetrics = createRoute({
  method: 'get',
  path: '/v1/targets/{target}/metrics',
  tags: ['metrics'],
  summary:
    'Series per segment and arm: counts, errors, latency/ttft percentiles (merged sketches), tokens, cost, quality, feedback',
  request: { params: TargetParam, query: MetricsQuery },
  responses: {
    200: jsonResponse(MetricsSeries, 'One series per segment × arm, one point per step with data'),
    422: problemResponse('Invalid query (names the parameter)'),
  },
});
