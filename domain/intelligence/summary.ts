/**
 * Merges window aggregates into per segment × arm summaries that every analyzer and strategy reads,
 * so merging (and sketch decoding) happens once per cycle.
 */
import { emptyMoments, variance, type Moments, type WindowAggregate } from '../aggregate';
import type { Percentiles } from '../aggregate';
import { mergeDecoded, mergeWindowHistograms, percentiles, type Histogram } from './fast-sketch';

export interface ArmSummary {
  segment: string;
  arm: string;
  count: number;
  errors: number;
  errors_by_type: Record<string, number>;
  rate_limited: number;
  cost_usd: number;
  latency: Percentiles;
  latency_mean_ms: number | null;
  quality: Moments;
  quality_variance: number;
  feedback_count: number;
  thumbs_up: number;
  thumbs_down: number;
  from: string;
  to: string;
  windows: number;
  /**
   * Latency histograms of the windows before the last `RECENT_WINDOWS` (baseline) and of those (recent),
   * merged once here so the regression test does not merge them again; null without sketches.
   */
  latency_baseline: Histogram | null;
  latency_recent: Histogram | null;
  /** Per-window metric series, in window order, for the analyzers that scan windows one by one. */
  series: MetricSeries;
  /** Totals of the baseline and recent parts (split as the latency histograms are). */
  baseline: PartTotals;
  recent: PartTotals;
}

/** Requests, errors and quality moments of a run of windows (moments merged in window order). */
export interface PartTotals {
  count: number;
  errors: number;
  quality: Moments;
}

/**
 * One value per window (NaN where a window has none), filled in the one pass that merges the windows:
 * the rows of a cycle are scattered in memory, so every further pass over them costs a cache miss per
 * row, while these columns are dense.
 */
export interface MetricSeries {
  cost_per_request: Float64Array;
  error_rate: Float64Array;
  latency_p95_ms: Float64Array;
  quality: Float64Array;
}

export const SERIES_METRICS = ['cost_per_request', 'error_rate', 'latency_p95_ms', 'quality'] as const;

function emptySeries(n: number): MetricSeries {
  const all = new Float64Array(4 * n);
  return {
    cost_per_request: all.subarray(0, n),
    error_rate: all.subarray(n, 2 * n),
    latency_p95_ms: all.subarray(2 * n, 3 * n),
    quality: all.subarray(3 * n, 4 * n),
  };
}

function fillSeries(series: MetricSeries, i: number, w: WindowAggregate, errors: number): void {
  series.cost_per_request[i] = w.count > 0 ? w.cost_usd / w.count : NaN;
  series.error_rate[i] = w.count > 0 ? errors / w.count : NaN;
  series.latency_p95_ms[i] = w.latency.p95 ?? NaN;
  series.quality[i] = w.quality.count > 0 ? w.quality.mean : NaN;
}

/** Merge `b` into `a` in place: mergeMoments without an object per window. */
function addMoments(a: Moments, b: Moments): void {
  if (b.count === 0) return;
  if (a.count === 0) {
    a.count = b.count;
    a.mean = b.mean;
    a.m2 = b.m2;
    return;
  }
  // The same arithmetic as mergeMoments, term for term, so the result is bit-identical.
  const count = a.count + b.count;
  const delta = b.mean - a.mean;
  const mean = a.mean + (delta * b.count) / count;
  a.m2 = a.m2 + b.m2 + (delta * delta * a.count * b.count) / count;
  a.count = count;
  a.mean = mean;
}

/** A window's errors (errorCount without its intermediate array: analyzers call it for every window). */
export function errorsIn(w: Pick<WindowAggregate, 'errors'>): number {
  let n = 0;
  for (const k in w.errors) n += w.errors[k]!;
  return n;
}

/** The metric series of windows not merged by `summarize` (e.g. a caller's own selection). */
export function seriesOf(windows: readonly WindowAggregate[]): MetricSeries {
  const series = emptySeries(windows.length);
  windows.forEach((w, i) => fillSeries(series, i, w, errorsIn(w)));
  return series;
}

/** Windows a summary keeps apart as "recent" (the performance analyzer's default comparison). */
export const RECENT_WINDOWS = 3;

export const key = (segment: string, arm: string): string => `${segment}\u0000${arm}`;

/** Aggregates grouped by segment × arm, windows in time order. */
export function groupAggregates(aggregates: readonly WindowAggregate[]): Map<string, WindowAggregate[]> {
  // Grouped by segment, then arm, so the composite key is built once per group rather than once per row.
  const bySegment = new Map<string, Map<string, WindowAggregate[]>>();
  for (const a of aggregates) {
    let arms = bySegment.get(a.segment);
    if (!arms) bySegment.set(a.segment, (arms = new Map<string, WindowAggregate[]>()));
    const g = arms.get(a.arm);
    if (g) g.push(a);
    else arms.set(a.arm, [a]);
  }
  const groups = new Map<string, WindowAggregate[]>();
  for (const [segment, arms] of bySegment) for (const [arm, g] of arms) groups.set(key(segment, arm), g);
  for (const g of groups.values()) {
    // Loaded rows usually arrive in time order already; sorting only when they do not saves the comparisons.
    let ordered = true;
    for (let i = 1; i < g.length && ordered; i++)
      if (g[i - 1]!.window_start > g[i]!.window_start) ordered = false;
    if (!ordered)
      g.sort((a, b) => (a.window_start < b.window_start ? -1 : a.window_start > b.window_start ? 1 : 0));
  }
  return groups;
}

/** Merge a group of windows; `withSketch` decodes and merges latency sketches (the costly part). */
export function summarize(windows: readonly WindowAggregate[], withSketch = true): ArmSummary {
  const first = windows[0]!;
  let count = 0;
  let errors = 0;
  let cost = 0;
  let latencySum = 0;
  // Quality moments merged in place (Chan et al.'s pairwise update, as mergeMoments), without an object per window.
  let qn = 0;
  let qMean = 0;
  let qM2 = 0;
  let fb = 0;
  let up = 0;
  let down = 0;
  const byType: Record<string, number> = {};
  let from = first.window_start;
  let to = first.window_end;
  const series = emptySeries(windows.length);
  const cut = Math.max(0, windows.length - RECENT_WINDOWS);
  const parts: [PartTotals, PartTotals] = [
    { count: 0, errors: 0, quality: emptyMoments() },
    { count: 0, errors: 0, quality: emptyMoments() },
  ];
  for (let i = 0; i < windows.length; i++) {
    const w = windows[i]!;
    count += w.count;
    let windowErrors = 0;
    for (const t in w.errors) {
      const n = w.errors[t]!;
      windowErrors += n;
      byType[t] = (byType[t] ?? 0) + n;
    }
    errors += windowErrors;
    fillSeries(series, i, w, windowErrors);
    const part = parts[i < cut ? 0 : 1];
    part.count += w.count;
    part.errors += windowErrors;
    addMoments(part.quality, w.quality);
    cost += w.cost_usd;
    latencySum += w.latency_sum_ms;
    const q = w.quality;
    if (q.count > 0) {
      const n = qn + q.count;
      const delta = q.mean - qMean;
      qM2 += q.m2 + (delta * delta * qn * q.count) / n;
      qMean += (delta * q.count) / n;
      qn = n;
    }
    fb += w.feedback.count;
    up += w.feedback.thumbs_up;
    down += w.feedback.thumbs_down;
    if (w.window_start < from) from = w.window_start;
    if (w.window_end > to) to = w.window_end;
  }
  let latency: Percentiles = windows.at(-1)?.latency ?? { p50: null, p90: null, p95: null, p99: null };
  let baselineHist: Histogram | null = null;
  let recentHist: Histogram | null = null;
  if (withSketch) {
    // Each window's sketch is merged once: into the baseline or the recent part, and the whole is their sum.
    baselineHist = mergeWindowHistograms(windows, 0, cut);
    recentHist = mergeWindowHistograms(windows, cut);
    latency = percentiles(mergeDecoded([baselineHist, recentHist]));
  }
  const quality: Moments = { count: qn, mean: qMean, m2: qM2 };
  return {
    segment: first.segment,
    arm: first.arm,
    count,
    errors,
    errors_by_type: byType,
    rate_limited: byType['rate_limited'] ?? 0,
    cost_usd: cost,
    latency,
    latency_mean_ms: count > 0 ? latencySum / count : null,
    quality,
    quality_variance: variance(quality),
    feedback_count: fb,
    thumbs_up: up,
    thumbs_down: down,
    from,
    to,
    windows: windows.length,
    latency_baseline: baselineHist,
    latency_recent: recentHist,
    series,
    baseline: parts[0],
    recent: parts[1],
  };
}

/** The time range and number of windows a set of aggregates covers. */
export function rangeOf(aggregates: readonly WindowAggregate[]): { from: string; to: string; count: number } {
  if (aggregates.length === 0) return { from: '', to: '', count: 0 };
  let from = aggregates[0]!.window_start;
  let to = aggregates[0]!.window_end;
  const starts = new Set<string>();
  for (const a of aggregates) {
    if (a.window_start < from) from = a.window_start;
    if (a.window_end > to) to = a.window_end;
    starts.add(a.window_start);
  }
  return { from, to, count: starts.size };
}
