/**
 * Builds a WindowAggregate from individual requests, the way the stream process does: used by the
 * replay harness and by tests so both feed the judge and the strategies production-shaped input.
 */
import {
  addToMoments,
  emptyFeedback,
  emptyMoments,
  mergeFeedback,
  mergeMoments,
  type WindowAggregate,
} from '../aggregate';
import { encodeSketch, mergeEncoded, newSketch, percentilesOf } from '../sketch';

export interface RequestOutcome {
  latency_ms?: number | undefined;
  ttft_ms?: number | undefined;
  status?: 'ok' | 'error' | 'timeout' | 'rate_limited' | undefined;
  error_type?: string | undefined;
  cost_usd: number;
  quality?: number | undefined;
  input_tokens?: number | undefined;
  output_tokens?: number | undefined;
}

export interface WindowKey {
  target: string;
  segment: string;
  arm: string;
  window_start: string;
  window_end: string;
}

/** One window's aggregate from the requests it saw. */
export function buildAggregate(key: WindowKey, requests: readonly RequestOutcome[]): WindowAggregate {
  const latency = newSketch();
  const ttft = newSketch();
  const errors: Record<string, number> = {};
  let ok = 0;
  let latencySum = 0;
  let cost = 0;
  let inTok = 0;
  let outTok = 0;
  let quality = emptyMoments();
  for (const r of requests) {
    const status = r.status ?? 'ok';
    if (status === 'ok') ok++;
    else {
      const k = r.error_type ?? status;
      errors[k] = (errors[k] ?? 0) + 1;
    }
    if (r.latency_ms !== undefined) {
      latency.accept(r.latency_ms);
      latencySum += r.latency_ms;
    }
    if (r.ttft_ms !== undefined) ttft.accept(r.ttft_ms);
    cost += r.cost_usd;
    inTok += r.input_tokens ?? 0;
    outTok += r.output_tokens ?? 0;
    if (r.quality !== undefined) quality = addToMoments(quality, r.quality);
  }
  // Spelled out rather than spread from `key`: a spread followed by sixteen more properties leaves V8
  // with a dictionary-mode object, and every analyzer pass over thousands of such rows ran ~10× slower
  // than over the fast-mode objects the aggregates repository builds (toWindowAggregate).
  return {
    target: key.target,
    segment: key.segment,
    arm: key.arm,
    window_start: key.window_start,
    window_end: key.window_end,
    count: requests.length,
    ok,
    errors,
    latency: percentilesOf(latency),
    ttft: percentilesOf(ttft),
    latency_sum_ms: latencySum,
    latency_sketch: latency.count > 0 ? encodeSketch(latency) : null,
    ttft_sketch: ttft.count > 0 ? encodeSketch(ttft) : null,
    input_tokens: inTok,
    output_tokens: outTok,
    cost_usd: cost,
    cache_hits: 0,
    quality,
    feedback: emptyFeedback(),
  };
}

/**
 * Roll windows of one segment × arm up into one coarser window (counts add, moments and sketches merge),
 * as a retention policy compacts old hourly rows into daily ones. Exact for everything the strategies
 * read; only the per-window series the anomaly and pattern analyzers scan loses resolution.
 */
export function rollUp(windows: readonly WindowAggregate[]): WindowAggregate {
  const first = windows[0]!;
  const errors: Record<string, number> = {};
  let quality = emptyMoments();
  let feedback = emptyFeedback();
  const sum = (f: (w: WindowAggregate) => number) => windows.reduce((a, w) => a + f(w), 0);
  for (const w of windows) {
    for (const [k, n] of Object.entries(w.errors)) errors[k] = (errors[k] ?? 0) + n;
    quality = mergeMoments(quality, w.quality);
    feedback = mergeFeedback(feedback, w.feedback);
  }
  const latencySketches = windows.map((w) => w.latency_sketch).filter((s): s is string => s !== null);
  const ttftSketches = windows.map((w) => w.ttft_sketch).filter((s): s is string => s !== null);
  const latency = latencySketches.length ? mergeEncoded(latencySketches) : null;
  const ttft = ttftSketches.length ? mergeEncoded(ttftSketches) : null;
  return {
    target: first.target,
    segment: first.segment,
    arm: first.arm,
    window_start: windows.reduce((a, w) => (w.window_start < a ? w.window_start : a), first.window_start),
    window_end: windows.reduce((a, w) => (w.window_end > a ? w.window_end : a), first.window_end),
    count: sum((w) => w.count),
    ok: sum((w) => w.ok),
    errors,
    latency: latency ? percentilesOf(latency) : { p50: null, p90: null, p95: null, p99: null },
    ttft: ttft ? percentilesOf(ttft) : { p50: null, p90: null, p95: null, p99: null },
    latency_sum_ms: sum((w) => w.latency_sum_ms),
    latency_sketch: latency ? encodeSketch(latency) : null,
    ttft_sketch: ttft ? encodeSketch(ttft) : null,
    input_tokens: sum((w) => w.input_tokens),
    output_tokens: sum((w) => w.output_tokens),
    cost_usd: sum((w) => w.cost_usd),
    cache_hits: sum((w) => w.cache_hits),
    quality,
    feedback,
  };
}
