/**
 * Batching: batch size and maximum wait from the arrival rate and the latency SLO.
 * Queueing model: Poisson arrivals at rate lambda; a batch closes when it holds b requests or its first
 * request has waited w. The first request's wait for b - 1 more arrivals is Gamma(b - 1, 1 / lambda), so
 * the added delay at the SLO's percentile is that Gamma's quantile, capped by w. The largest b whose
 * delayed percentile stays within the SLO gives the largest saving; the saving is the per-call overhead
 * share amortized over the batch, (1 - 1/b) × overhead, with the overhead share a stated assumption.
 */
import jStat from 'jstat';
import type { Arm, TargetPolicy } from '../model';
import type { Candidate } from '../intelligence/types';
import { servingCandidate, type ArmFacts, type SegmentFacts } from './arm-stats';

export interface BatchingParams {
  /** Share of a call's cost that is per-call overhead a batch shares (assumption, not measured). */
  overhead_share: number;
  max_batch: number;
  /** Smallest saving worth a change. */
  min_saving: number;
}

export const BATCHING_DEFAULTS: BatchingParams = { overhead_share: 0.1, max_batch: 64, min_saving: 0.01 };

const PERCENTILE = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 } as const;

/** The largest batch (and its wait cap, ms) that keeps `serviceMs + delay` within `sloMs`. */
export function planBatch(
  ratePerS: number,
  serviceMs: number,
  sloMs: number,
  quantile: number,
  maxBatch: number,
): { size: number; wait_ms: number; added_ms: number } {
  const slack = sloMs - serviceMs;
  let best = { size: 1, wait_ms: 0, added_ms: 0 };
  if (slack <= 0 || ratePerS <= 0) return best;
  for (let b = 2; b <= maxBatch; b++) {
    const fillMs = jStat.gamma.inv(quantile, b - 1, 1 / ratePerS) * 1000;
    const added = Math.min(fillMs, slack);
    if (fillMs > slack) break;
    best = { size: b, wait_ms: Math.ceil(added), added_ms: added };
  }
  return best;
}

export function proposeBatching(
  arms: readonly Arm[],
  pooled: ReadonlyMap<string, ArmFacts>,
  segments: readonly SegmentFacts[],
  policy: TargetPolicy,
  range: { from: string; to: string; count: number },
  params: BatchingParams = BATCHING_DEFAULTS,
): Candidate[] {
  if (policy.latency_slo_ms === undefined || range.count === 0) return [];
  const spanS = (Date.parse(range.to) - Date.parse(range.from)) / 1000;
  if (!(spanS > 0)) return [];
  const out: Candidate[] = [];
  for (const arm of arms) {
    const f = pooled.get(arm.id);
    if (!f || f.requests === 0 || f.latency_ms === null) continue;
    const rate = f.requests / spanS;
    const plan = planBatch(
      rate,
      f.latency_ms,
      policy.latency_slo_ms,
      PERCENTILE[policy.latency_slo_percentile],
      params.max_batch,
    );
    const current = arm.serving.batch_size ?? 1;
    const saving = params.overhead_share * (1 - 1 / plan.size) - params.overhead_share * (1 - 1 / current);
    if (plan.size <= current || saving < params.min_saving) continue;
    const home = segments.reduce<SegmentFacts | null>(
      (h, s) => ((s.arms.get(arm.id)?.requests ?? 0) > (h?.arms.get(arm.id)?.requests ?? 0) ? s : h),
      null,
    );
    if (!home) continue;
    const latRel = plan.added_ms / f.latency_ms;
    out.push(
      servingCandidate(
        'batching',
        home.segment,
        arm,
        { field: 'batch_size', to: plan.size },
        {
          expected_impact: {
            cost: { relative: -saving, low: -saving, high: 0 },
            latency: { relative: latRel, low: 0, high: latRel },
            quality: null,
          },
          confidence: PERCENTILE[policy.latency_slo_percentile],
          numbers: {
            arrival_rate_per_s: rate,
            batch_size: plan.size,
            max_wait_ms: plan.wait_ms,
            latency_ms: f.latency_ms,
            slo_ms: policy.latency_slo_ms,
          },
          rationale: `at ${rate.toFixed(1)} requests/s a batch of ${plan.size} fills within ${plan.wait_ms} ms at the ${policy.latency_slo_percentile}, keeping ${f.latency_ms.toFixed(0)} ms + wait under the ${policy.latency_slo_ms} ms SLO (max wait ${plan.wait_ms} ms)`,
        },
      ),
    );
  }
  return out;
}
