/**
 * Per segment × arm facts the strategies share: request counts, cost per request, quality successes,
 * error rate and the latency percentile the policy's SLO names.
 */
import type { Arm, TargetPolicy, Weights } from '../model';
import type { ArmSummary } from '../intelligence/summary';
import type { Candidate } from '../intelligence/types';

export interface ArmFacts {
  arm: string;
  requests: number;
  cost_per_request: number | null;
  /** Quality observations and their sum (a fractional success count for scores in 0..1). */
  quality_n: number;
  quality_sum: number;
  error_rate: number | null;
  latency_ms: number | null;
}

export interface SegmentFacts {
  segment: string;
  weights: Weights;
  version: number;
  /** Arm with the largest weight: the configuration the segment runs now. */
  primary: string;
  requests: number;
  arms: Map<string, ArmFacts>;
}

/** The arm holding the most traffic (ties by id, so every reader agrees). */
export function primaryArm(weights: Weights): string {
  let best = '';
  let bestW = -1;
  for (const [arm, w] of Object.entries(weights).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (w > bestW) {
      best = arm;
      bestW = w;
    }
  }
  return best;
}

export function segmentFacts(
  segment: string,
  routing: { version: number; weights: Weights },
  arms: readonly Arm[],
  summaries: ReadonlyMap<string, ArmSummary>,
  policy: TargetPolicy,
): SegmentFacts {
  const facts = new Map<string, ArmFacts>();
  let requests = 0;
  for (const arm of arms) {
    const s = summaries.get(arm.id);
    requests += s?.count ?? 0;
    facts.set(arm.id, {
      arm: arm.id,
      requests: s?.count ?? 0,
      cost_per_request: s && s.count > 0 ? s.cost_usd / s.count : null,
      quality_n: s?.quality.count ?? 0,
      quality_sum: s ? s.quality.mean * s.quality.count : 0,
      error_rate: s && s.count > 0 ? s.errors / s.count : null,
      latency_ms: s ? s.latency[policy.latency_slo_percentile] : null,
    });
  }
  return {
    segment,
    weights: routing.weights,
    version: routing.version,
    primary: primaryArm(routing.weights),
    requests,
    arms: facts,
  };
}

/** Pooled facts of each arm over all segments (the hierarchical prior's level). */
export function pooledFacts(segments: readonly SegmentFacts[], arms: readonly Arm[]): Map<string, ArmFacts> {
  const pooled = new Map<string, ArmFacts>();
  for (const arm of arms) {
    let requests = 0;
    let cost = 0;
    let costN = 0;
    let qn = 0;
    let qs = 0;
    let errs = 0;
    let latency: number | null = null;
    let latencyN = 0;
    for (const s of segments) {
      const f = s.arms.get(arm.id);
      if (!f) continue;
      requests += f.requests;
      if (f.cost_per_request !== null) {
        cost += f.cost_per_request * f.requests;
        costN += f.requests;
      }
      qn += f.quality_n;
      qs += f.quality_sum;
      if (f.error_rate !== null) errs += f.error_rate * f.requests;
      if (f.latency_ms !== null && f.requests > latencyN) {
        latency = f.latency_ms;
        latencyN = f.requests;
      }
    }
    pooled.set(arm.id, {
      arm: arm.id,
      requests,
      cost_per_request: costN > 0 ? cost / costN : null,
      quality_n: qn,
      quality_sum: qs,
      error_rate: requests > 0 ? errs / requests : null,
      latency_ms: latency,
    });
  }
  return pooled;
}

/** Whether an arm's observed latency and error rate keep the policy's SLOs (unknown counts as kept). */
export function keepsSlo(f: ArmFacts | undefined, policy: TargetPolicy): boolean {
  if (!f) return true;
  if (policy.latency_slo_ms !== undefined && f.latency_ms !== null && f.latency_ms > policy.latency_slo_ms)
    return false;
  if (
    policy.error_rate_slo !== undefined &&
    f.error_rate !== null &&
    f.requests >= 20 &&
    f.error_rate > policy.error_rate_slo
  )
    return false;
  return true;
}

/**
 * A candidate that sets one serving field of an arm and moves no traffic, proposed in `segment` (the
 * segment that sends the arm the most requests).
 */
export function servingCandidate(
  strategy: 'batching' | 'rate_limiting',
  segment: string,
  arm: Arm,
  change: { field: 'batch_size' | 'max_concurrency'; to: number },
  rest: Pick<Candidate, 'expected_impact' | 'confidence' | 'numbers' | 'rationale'>,
): Candidate {
  return {
    strategy,
    kind: strategy === 'batching' ? 'batching' : 'rate_limit',
    segment,
    canary_arm: null,
    baseline_arm: null,
    from_weights: null,
    to_weights: null,
    serving_change: {
      arm: arm.id,
      field: change.field,
      from: arm.serving[change.field] ?? null,
      to: change.to,
    },
    ...rest,
  };
}
