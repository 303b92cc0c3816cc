import type { RouteHandler } from '@hono/zod-openapi';
import { variance } from '../../../domain/aggregate';
import { AppError } from '../../../domain/errors';
import { percentilesOf } from '../../../domain/sketch';
import { emptyState, mergeInto, type AggregateState } from '../../../pipeline/core/windowing/aggregate-state';
import type { ApiDeps, AppBindings } from '../../lib/types';
import { MAX_RANGE_DAYS, MAX_RANGE_MS, type getMetrics } from './metrics-query.routes';

const MAX_POINTS = 10_000;
const NO_PERCENTILES = { p50: null, p90: null, p95: null, p99: null };

function point(start: number, end: number, s: AggregateState) {
  return {
    start: new Date(start).toISOString(),
    end: new Date(end).toISOString(),
    count: s.count,
    ok: s.ok,
    error_rate: s.count > 0 ? (s.count - s.ok) / s.count : null,
    errors: s.errors,
    // Percentiles of the merged sketch: exact up to the sketch's 1% relative accuracy at any step.
    latency: s.latency ? percentilesOf(s.latency) : NO_PERCENTILES,
    ttft: s.ttft ? percentilesOf(s.ttft) : NO_PERCENTILES,
    latency_mean_ms: s.count > 0 ? s.latencySumUs / 1000 / s.count : null,
    input_tokens: s.inputTokens,
    output_tokens: s.outputTokens,
    cost_usd: s.costNusd / 1e9,
    cache_hits: s.cacheHits,
    quality: {
      count: s.quality.count,
      mean: s.quality.count > 0 ? s.quality.mean : null,
      variance: s.quality.count > 1 ? variance(s.quality) : null,
    },
    feedback: {
      count: s.feedback.count,
      thumbs_up: s.feedback.thumbs_up,
      thumbs_down: s.feedback.thumbs_down,
      rating_count: s.feedback.rating_count,
      rating_mean: s.feedback.rating_count > 0 ? s.feedback.rating_sum / s.feedback.rating_count : null,
      task_completed: s.feedback.task_completed,
      edited: s.feedback.edited,
      regenerated: s.feedback.regenerated,
    },
  };
}

export function metricsQueryHandlers(deps: ApiDeps) {
  const aggregates = deps.repos.aggregates;
  const base = deps.env.INGEST_WINDOW_MS;

  const get: RouteHandler<typeof getMetrics, AppBindings> = async (c) => {
    const { target } = c.req.valid('param');
    const q = c.req.valid('query');
    const to = q.to ? Date.parse(q.to) : Date.now();
    const from = q.from ? Date.parse(q.from) : to - 3_600_000;
    const step = q.step ?? 60_000;
    const bad = (path: string, message: string) =>
      new AppError('validation', `${path}: ${message}`, { issues: [{ path: `query.${path}`, message }] });
    if (from >= to) throw bad('from', 'must be before `to`');
    // The reader walks the range in one-hour blocks: a millennium would be millions of them.
    if (to - from > MAX_RANGE_MS) throw bad('from', `at most ${MAX_RANGE_DAYS} days before \`to\``);
    if (step < base) throw bad('step', `must be at least the base window of ${base} ms`);
    if ((to - from) / step > MAX_POINTS)
      throw bad('step', `too fine for the range: at most ${MAX_POINTS} points`);

    const filter = { target, ...(q.segment ? { segment: q.segment } : {}), ...(q.arm ? { arm: q.arm } : {}) };
    // With the reader: open windows hot in Redis too, and stored windows through the three-tier cache.
    const reader = deps.caches?.aggregates;
    const windows = reader
      ? await reader.queryStates({ ...filter, from, to })
      : await aggregates.queryStates({
          ...filter,
          from: new Date(from).toISOString(),
          to: new Date(to).toISOString(),
        });
    // A base window belongs to the step bucket holding its start; steps that are multiples of the base
    // window (from aligned) therefore merge whole windows, never parts.
    const series = new Map<string, { segment: string; arm: string; buckets: Map<number, AggregateState> }>();
    for (const w of windows) {
      if (w.start < from) continue;
      const key = `${w.segment}\u0000${w.arm}`;
      let s = series.get(key);
      if (!s) series.set(key, (s = { segment: w.segment, arm: w.arm, buckets: new Map() }));
      const bucket = from + Math.floor((w.start - from) / step) * step;
      const acc = s.buckets.get(bucket) ?? emptyState();
      s.buckets.set(bucket, mergeInto(acc, w.state));
    }
    return c.json(
      {
        target,
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        step_ms: step,
        base_window_ms: base,
        series: [...series.values()]
          .sort((a, b) => a.segment.localeCompare(b.segment) || a.arm.localeCompare(b.arm))
          .map((s) => ({
            segment: s.segment,
            arm: s.arm,
            points: [...s.buckets.entries()]
              .sort((a, b) => a[0] - b[0])
              .map(([start, st]) => point(start, Math.min(start + step, to), st)),
          })),
      },
      200,
    );
  };
  return { get };
}
