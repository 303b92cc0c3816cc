/**
 * Merges window aggregates into per segment × arm summaries that every analyzer and strategy reads,
 * so merging (and sketch decoding) happens once per cycle.
 */
import { errorCount, mergeMoments, variance, type Moments, type WindowAggregate } from '../aggregate';
import type { Percentiles } from '../aggregate';
import { mergeHistograms, percentiles } from './fast-sketch';

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
}

export const key = (segment: string, arm: string): string => `${segment}\u0000${arm}`;

/** Aggregates grouped by segment × arm, windows in time order. */
export function groupAggregates(aggregates: readonly WindowAggregate[]): Map<string, WindowAggregate[]> {
  const groups = new Map<string, WindowAggregate[]>();
  for (const a of aggregates) {
    const k = key(a.segment, a.arm);
    const g = groups.get(k);
    if (g) g.push(a);
    else groups.set(k, [a]);
  }
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
  let quality: Moments = { count: 0, mean: 0, m2: 0 };
  let fb = 0;
  let up = 0;
  let down = 0;
  const byType: Record<string, number> = {};
  let from = first.window_start;
  let to = first.window_end;
  for (const w of windows) {
    count += w.count;
    errors += errorCount(w);
    for (const [t, n] of Object.entries(w.errors)) byType[t] = (byType[t] ?? 0) + n;
    cost += w.cost_usd;
    latencySum += w.latency_sum_ms;
    quality = mergeMoments(quality, w.quality);
    fb += w.feedback.count;
    up += w.feedback.thumbs_up;
    down += w.feedback.thumbs_down;
    if (w.window_start < from) from = w.window_start;
    if (w.window_end > to) to = w.window_end;
  }
  const latency: Percentiles = withSketch
    ? percentiles(mergeHistograms(windows.map((w) => w.latency_sketch)))
    : (windows.at(-1)?.latency ?? { p50: null, p90: null, p95: null, p99: null });
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
