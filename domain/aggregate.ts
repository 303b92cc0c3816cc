/**
 * The window aggregate: everything the analyzers, strategies and the canary judge
 * read about one target × segment × arm over one event-time window. Mergeable by construction:
 * counts add, quality moments combine (Chan et al.), and latency distributions are DDSketches that
 * merge bucket-wise, so any coarser window is exact up to the sketch's relative accuracy.
 */

/** Welford/Chan running moments of a score in 0..1. */
export interface Moments {
  count: number;
  mean: number;
  /** Sum of squared deviations from the mean; variance = m2 / (count - 1). */
  m2: number;
}

export interface FeedbackCounts {
  count: number;
  thumbs_up: number;
  thumbs_down: number;
  rating_count: number;
  rating_sum: number;
  task_completed: number;
  edited: number;
  regenerated: number;
}

/** Percentiles read off a sketch, in milliseconds. Null when the window saw no value. */
export interface Percentiles {
  p50: number | null;
  p90: number | null;
  p95: number | null;
  p99: number | null;
}

export interface WindowAggregate {
  target: string;
  segment: string;
  arm: string;
  /** ISO timestamps; [start, end). */
  window_start: string;
  window_end: string;
  /** Every llm.request in the window. */
  count: number;
  ok: number;
  /** Requests whose status is not ok, keyed by status or error_type, e.g. { timeout: 3, rate_limited: 2 }. */
  errors: Record<string, number>;
  latency: Percentiles;
  ttft: Percentiles;
  latency_sum_ms: number;
  /** Base64 DDSketch protobuf (relative accuracy 1%); merge these, never average percentiles. */
  latency_sketch: string | null;
  ttft_sketch: string | null;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  cache_hits: number;
  quality: Moments;
  feedback: FeedbackCounts;
}

export const emptyMoments = (): Moments => ({ count: 0, mean: 0, m2: 0 });

export const emptyFeedback = (): FeedbackCounts => ({
  count: 0,
  thumbs_up: 0,
  thumbs_down: 0,
  rating_count: 0,
  rating_sum: 0,
  task_completed: 0,
  edited: 0,
  regenerated: 0,
});

export function addToMoments(m: Moments, x: number): Moments {
  const count = m.count + 1;
  const delta = x - m.mean;
  const mean = m.mean + delta / count;
  return { count, mean, m2: m.m2 + delta * (x - mean) };
}

/** Chan et al. parallel combination of two moment sets. */
export function mergeMoments(a: Moments, b: Moments): Moments {
  if (a.count === 0) return { ...b };
  if (b.count === 0) return { ...a };
  const count = a.count + b.count;
  const delta = b.mean - a.mean;
  return {
    count,
    mean: a.mean + (delta * b.count) / count,
    m2: a.m2 + b.m2 + (delta * delta * a.count * b.count) / count,
  };
}

export function variance(m: Moments): number {
  return m.count > 1 ? m.m2 / (m.count - 1) : 0;
}

export function mergeFeedback(a: FeedbackCounts, b: FeedbackCounts): FeedbackCounts {
  return {
    count: a.count + b.count,
    thumbs_up: a.thumbs_up + b.thumbs_up,
    thumbs_down: a.thumbs_down + b.thumbs_down,
    rating_count: a.rating_count + b.rating_count,
    rating_sum: a.rating_sum + b.rating_sum,
    task_completed: a.task_completed + b.task_completed,
    edited: a.edited + b.edited,
    regenerated: a.regenerated + b.regenerated,
  };
}

export function errorCount(a: Pick<WindowAggregate, 'errors'>): number {
  return Object.values(a.errors).reduce((s, n) => s + n, 0);
}
