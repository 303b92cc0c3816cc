/**
 * Merges window aggregates into per segment × arm summaries that every analyzer and strategy reads,
 * so merging (and sketch decoding) happens once per cycle.
 */
import { variance, type Moments, type WindowAggregate } from '../aggregate';
import type { Percentiles } from '../aggregate';
import { mergeDecoded, mergeHistograms, percentiles, type Histogram } from './fast-sketch';

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
  for (const w of windows) {
    count += w.count;
    for (const t in w.errors) {
      const n = w.errors[t]!;
      errors += n;
      byType[t] = (byType[t] ?? 0) + n;
    }
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
    const cut = Math.max(0, windows.length - RECENT_WINDOWS);
    const sketches = windows.map((w) => w.latency_sketch);
    baselineHist = mergeHistograms(sketches.slice(0, cut));
    recentHist = mergeHistograms(sketches.slice(cut));
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
