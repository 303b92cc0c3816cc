/**
 * Adaptive rate limiting: a per-arm (provider × model) concurrency limit driven by AIMD
 * — multiplicative decrease when the latest window shows 429s or errors beyond what the provider
 * tolerates, additive increase after consecutive clean windows whose latency stays near its baseline.
 * When no limit is configured, Little's law (in-flight = arrival rate × mean latency) estimates it.
 */
import type { Arm } from '../model';
import type { WindowAggregate } from '../aggregate';
import { twoProportionZ } from '../stats/tests';
import { errorsIn, key } from '../intelligence/summary';
import type { Candidate } from '../intelligence/types';
import { servingCandidate, type SegmentFacts } from './arm-stats';

export interface RateLimitParams {
  /** Largest tolerated share of 429s and errors before backing off. */
  max_throttle_rate: number;
  decrease_factor: number;
  increase_step: number;
  /** Clean windows in a row before an increase. */
  clean_windows: number;
  /** Latency p95 ratio to the baseline above which an increase is withheld. */
  latency_headroom: number;
}

export const RATE_LIMIT_DEFAULTS: RateLimitParams = {
  max_throttle_rate: 0.01,
  decrease_factor: 0.7,
  increase_step: 1,
  clean_windows: 3,
  latency_headroom: 1.2,
};

/** The AIMD step for one arm's windows in time order (oldest first); null when the limit should hold. */
export function aimdStep(
  windows: readonly WindowAggregate[],
  current: number,
  params: RateLimitParams = RATE_LIMIT_DEFAULTS,
): { to: number; reason: string; confidence: number } | null {
  const last = windows.at(-1);
  if (!last || last.count === 0) return null;
  // 429s and other errors alike signal that the provider is saturated.
  const throttled = errorsIn;
  const bad = throttled(last);
  const allowed = Math.ceil(params.max_throttle_rate * last.count);
  if (bad > allowed) {
    // One-sided test of the window's throttle rate against the tolerated rate: how sure the back-off is.
    const z = twoProportionZ(Math.round(params.max_throttle_rate * 10_000), 10_000, bad, last.count);
    return {
      to: Math.max(1, Math.floor(current * params.decrease_factor)),
      reason: `${bad} of ${last.count} requests in the latest window were throttled or failed (${((bad / last.count) * 100).toFixed(1)}% > ${(params.max_throttle_rate * 100).toFixed(1)}%)`,
      confidence: 1 - z.p_value,
    };
  }
  const recent = windows.slice(-params.clean_windows);
  if (
    recent.length < params.clean_windows ||
    recent.some((w) => throttled(w) > Math.ceil(params.max_throttle_rate * w.count))
  )
    return null;
  const history = windows
    .slice(0, -params.clean_windows)
    .map((w) => w.latency.p95)
    .filter((x): x is number => x !== null);
  const base = history.length > 0 ? [...history].sort((a, b) => a - b)[history.length >> 1]! : null;
  const now = last.latency.p95;
  if (base !== null && now !== null && now > base * params.latency_headroom) return null;
  return {
    to: current + params.increase_step,
    reason: `${params.clean_windows} clean windows in a row and latency p95 ${now?.toFixed(0) ?? 'n/a'} ms within ${Math.round((params.latency_headroom - 1) * 100)}% of its baseline ${base?.toFixed(0) ?? 'n/a'} ms`,
    confidence: 1 - 0.5 ** params.clean_windows,
  };
}

/** Candidates for every arm whose concurrency limit should move. */
export function proposeRateLimits(
  arms: readonly Arm[],
  groups: ReadonlyMap<string, readonly WindowAggregate[]>,
  segments: readonly SegmentFacts[],
  params: RateLimitParams = RATE_LIMIT_DEFAULTS,
): Candidate[] {
  const out: Candidate[] = [];
  for (const arm of arms) {
    // The arm's windows across segments, merged per window start so provider pressure is seen whole.
    let home: SegmentFacts | null = null;
    const perSegment: (readonly WindowAggregate[])[] = [];
    for (const seg of segments) {
      if ((seg.arms.get(arm.id)?.requests ?? 0) > (home?.arms.get(arm.id)?.requests ?? 0)) home = seg;
      const ws = groups.get(key(seg.segment, arm.id));
      if (ws && ws.length > 0) perSegment.push(ws);
    }
    if (!home) continue;
    // One segment's windows are read as they are; several are merged per window start.
    const byStart = new Map<string, WindowAggregate>();
    if (perSegment.length > 1)
      for (const ws of perSegment)
        for (const w of ws) {
          const prev = byStart.get(w.window_start);
          if (!prev)
            byStart.set(w.window_start, { ...w, errors: { ...w.errors }, latency: { ...w.latency } });
          else {
            prev.count += w.count;
            for (const [k, n] of Object.entries(w.errors)) prev.errors[k] = (prev.errors[k] ?? 0) + n;
            prev.latency_sum_ms += w.latency_sum_ms;
            if ((w.latency.p95 ?? 0) > (prev.latency.p95 ?? 0)) prev.latency = w.latency;
          }
        }
    const windows =
      perSegment.length === 1
        ? perSegment[0]!
        : [...byStart.values()].sort((a, b) => (a.window_start < b.window_start ? -1 : 1));
    const last = windows.at(-1);
    if (!last) continue;
    const spanS = (Date.parse(last.window_end) - Date.parse(last.window_start)) / 1000;
    const littles =
      spanS > 0 && last.count > 0
        ? Math.max(1, Math.ceil((last.count / spanS) * (last.latency_sum_ms / last.count / 1000)))
        : 1;
    const current = arm.serving.max_concurrency ?? littles;
    const step = aimdStep(windows, current, params);
    // Without a configured limit there is nothing to raise; only a back-off is worth setting one.
    if (!step || step.to === current || (arm.serving.max_concurrency === undefined && step.to > current))
      continue;
    const rel = step.to / current - 1;
    out.push(
      servingCandidate(
        'rate_limiting',
        home.segment,
        arm,
        { field: 'max_concurrency', to: step.to },
        {
          expected_impact: {
            cost: null,
            latency: rel < 0 ? { relative: 0, low: rel, high: 0 } : null,
            quality: null,
          },
          confidence: step.confidence,
          numbers: { from: current, to: step.to },
          rationale: `AIMD on ${arm.provider}/${arm.model}: ${step.reason}`,
        },
      ),
    );
  }
  return out;
}
