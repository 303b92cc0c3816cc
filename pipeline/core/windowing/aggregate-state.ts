/**
 * The mutable accumulator behind one window aggregate (domain/aggregate.ts). Every field merges exactly and
 * independently of arrival order: counts and integer sums (latency in microseconds, cost in
 * nano-dollars) add, DDSketch buckets add, quality moments combine (Chan et al.). That is what makes a
 * replay, a shard merge or a coarser step give the same numbers as one sorted pass.
 */
import type { DDSketch } from '@datadog/sketches-js';
import {
  addToMoments,
  emptyFeedback,
  emptyMoments,
  mergeFeedback,
  mergeMoments,
  type FeedbackCounts,
  type Moments,
  type WindowAggregate,
} from '../../../domain/aggregate';
import { decodeSketch, encodeSketch, newSketch, percentilesOf } from '../../../domain/sketch';
import type { LlmRequestEvent, UserFeedbackEvent } from '../../../domain/events';

export interface AggregateState {
  count: number;
  ok: number;
  errors: Record<string, number>;
  latencySumUs: number;
  latency: DDSketch | null;
  ttft: DDSketch | null;
  inputTokens: number;
  outputTokens: number;
  costNusd: number;
  cacheHits: number;
  quality: Moments;
  feedback: FeedbackCounts;
}

export interface WindowKey {
  target: string;
  segment: string;
  arm: string;
  /** Epoch milliseconds, [start, end). */
  start: number;
  end: number;
}

export const emptyState = (): AggregateState => ({
  count: 0,
  ok: 0,
  errors: {},
  latencySumUs: 0,
  latency: null,
  ttft: null,
  inputTokens: 0,
  outputTokens: 0,
  costNusd: 0,
  cacheHits: 0,
  quality: emptyMoments(),
  feedback: emptyFeedback(),
});

/** Nano-dollars: integer, so sums are exact; 2^53 nano-dollars is nine million dollars per window. */
export const toNanoUsd = (usd: number): number => Math.round(usd * 1e9);

export function addRequest(s: AggregateState, e: LlmRequestEvent, costUsd: number): void {
  s.count += 1;
  if (e.status === 'ok') s.ok += 1;
  else {
    const kind = e.error_type ?? e.status;
    s.errors[kind] = (s.errors[kind] ?? 0) + 1;
  }
  s.latencySumUs += Math.round(e.latency_ms * 1000);
  (s.latency ??= newSketch()).accept(e.latency_ms);
  if (e.ttft_ms !== undefined) (s.ttft ??= newSketch()).accept(e.ttft_ms);
  s.inputTokens += e.input_tokens;
  s.outputTokens += e.output_tokens;
  s.costNusd += toNanoUsd(costUsd);
  if (e.cache_hit) s.cacheHits += 1;
  if (e.quality_score !== undefined) s.quality = addToMoments(s.quality, e.quality_score);
}

export function addQuality(s: AggregateState, score: number): void {
  s.quality = addToMoments(s.quality, score);
}

export function addFeedback(s: AggregateState, e: UserFeedbackEvent): void {
  const f = s.feedback;
  f.count += 1;
  if (e.thumbs === 'up') f.thumbs_up += 1;
  if (e.thumbs === 'down') f.thumbs_down += 1;
  if (e.rating !== undefined) {
    f.rating_count += 1;
    f.rating_sum += e.rating;
  }
  if (e.task_completed) f.task_completed += 1;
  if (e.edited) f.edited += 1;
  if (e.regenerated) f.regenerated += 1;
}

function mergeSketch(a: DDSketch | null, b: DDSketch | null): DDSketch | null {
  if (!b) return a;
  const out = a ?? newSketch();
  out.merge(b);
  return out;
}

/** Folds `b` into `a` (a is mutated and returned). */
export function mergeInto(a: AggregateState, b: AggregateState): AggregateState {
  a.count += b.count;
  a.ok += b.ok;
  for (const [k, n] of Object.entries(b.errors)) a.errors[k] = (a.errors[k] ?? 0) + n;
  a.latencySumUs += b.latencySumUs;
  a.latency = mergeSketch(a.latency, b.latency);
  a.ttft = mergeSketch(a.ttft, b.ttft);
  a.inputTokens += b.inputTokens;
  a.outputTokens += b.outputTokens;
  a.costNusd += b.costNusd;
  a.cacheHits += b.cacheHits;
  a.quality = mergeMoments(a.quality, b.quality);
  a.feedback = mergeFeedback(a.feedback, b.feedback);
  return a;
}

export function cloneState(s: AggregateState): AggregateState {
  return mergeInto(emptyState(), s);
}

export function toWindowAggregate(k: WindowKey, s: AggregateState): WindowAggregate {
  return {
    target: k.target,
    segment: k.segment,
    arm: k.arm,
    window_start: new Date(k.start).toISOString(),
    window_end: new Date(k.end).toISOString(),
    count: s.count,
    ok: s.ok,
    errors: { ...s.errors },
    latency: s.latency ? percentilesOf(s.latency) : { p50: null, p90: null, p95: null, p99: null },
    ttft: s.ttft ? percentilesOf(s.ttft) : { p50: null, p90: null, p95: null, p99: null },
    latency_sum_ms: s.latencySumUs / 1000,
    latency_sketch: s.latency && s.latency.count > 0 ? encodeSketch(s.latency) : null,
    ttft_sketch: s.ttft && s.ttft.count > 0 ? encodeSketch(s.ttft) : null,
    input_tokens: s.inputTokens,
    output_tokens: s.outputTokens,
    cost_usd: s.costNusd / 1e9,
    cache_hits: s.cacheHits,
    quality: { ...s.quality },
    feedback: { ...s.feedback },
  };
}

/** The stored (encoded) form of a state: what PostgreSQL and Redis hold. */
export interface EncodedState {
  count: number;
  ok: number;
  errors: Record<string, number>;
  latency_sum_us: number;
  latency_sketch: string | null;
  ttft_sketch: string | null;
  input_tokens: number;
  output_tokens: number;
  cost_nusd: number;
  cache_hits: number;
  quality_count: number;
  quality_mean: number;
  quality_m2: number;
  feedback: FeedbackCounts;
}

export function encodeState(s: AggregateState): EncodedState {
  return {
    count: s.count,
    ok: s.ok,
    errors: s.errors,
    latency_sum_us: s.latencySumUs,
    latency_sketch: s.latency && s.latency.count > 0 ? encodeSketch(s.latency) : null,
    ttft_sketch: s.ttft && s.ttft.count > 0 ? encodeSketch(s.ttft) : null,
    input_tokens: s.inputTokens,
    output_tokens: s.outputTokens,
    cost_nusd: s.costNusd,
    cache_hits: s.cacheHits,
    quality_count: s.quality.count,
    quality_mean: s.quality.mean,
    quality_m2: s.quality.m2,
    feedback: s.feedback,
  };
}

export function decodeState(e: EncodedState): AggregateState {
  return {
    count: e.count,
    ok: e.ok,
    errors: { ...e.errors },
    latencySumUs: e.latency_sum_us,
    latency: e.latency_sketch ? decodeSketch(e.latency_sketch) : null,
    ttft: e.ttft_sketch ? decodeSketch(e.ttft_sketch) : null,
    inputTokens: e.input_tokens,
    outputTokens: e.output_tokens,
    costNusd: e.cost_nusd,
    cacheHits: e.cache_hits,
    quality: { count: e.quality_count, mean: e.quality_mean, m2: e.quality_m2 },
    feedback: { ...emptyFeedback(), ...e.feedback },
  };
}
