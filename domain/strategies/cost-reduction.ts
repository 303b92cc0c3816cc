/**
 * Cost reduction: the Pareto-optimal arms of a segment over cost, latency and quality,
 * and the cheapest of them that keeps the quality floor against the segment's current arm and the
 * latency SLO. Unlike model selection it holds the floor per segment, so it is the conservative
 * proposal the coordinator can prefer when the target-level plan is not yet confident.
 */
import type { TargetPolicy } from '../model';
import { normalCdf } from '../stats/distributions';
import type { Candidate } from '../intelligence/types';
import { keepsSlo, type SegmentFacts } from './arm-stats';
import { explorationWeights } from './model-selection';

export interface ParetoPoint {
  id: string;
  cost: number;
  latency: number;
  quality: number;
}

/** Whether `a` is at least as good as `b` everywhere and better somewhere (lower cost/latency, higher quality). */
export function dominates(a: ParetoPoint, b: ParetoPoint): boolean {
  const noWorse = a.cost <= b.cost && a.latency <= b.latency && a.quality >= b.quality;
  return noWorse && (a.cost < b.cost || a.latency < b.latency || a.quality > b.quality);
}

/** The non-dominated points, in input order. */
export function paretoFront<T extends ParetoPoint>(points: readonly T[]): T[] {
  return points.filter((p) => !points.some((q) => q !== p && dominates(q, p)));
}

export interface CostReductionParams {
  /** Probability that the arm keeps the floor, required to propose it. */
  switch_threshold: number;
  /** Quality observations an arm needs in the segment before it is considered. */
  min_samples: number;
  /** Traffic share the other arms keep so the segment goes on learning about them. */
  exploration_share: number;
}

/** Quality posterior mean and standard error with a Beta(1, 1) prior. */
function qualityEstimate(n: number, sum: number): { mean: number; se: number } {
  const mean = (sum + 1) / (n + 2);
  return { mean, se: Math.sqrt((mean * (1 - mean)) / (n + 3)) };
}

/** Propose, per segment, the cheapest Pareto arm that keeps the floor with the required probability. */
export function proposeCostReduction(
  segments: readonly SegmentFacts[],
  policy: TargetPolicy,
  params: CostReductionParams,
): Candidate[] {
  const out: Candidate[] = [];
  for (const seg of segments) {
    const primary = seg.arms.get(seg.primary);
    if (!primary || primary.cost_per_request === null || primary.quality_n < params.min_samples) continue;
    const points = [...seg.arms.values()]
      .filter((f) => f.cost_per_request !== null && f.quality_n >= params.min_samples && keepsSlo(f, policy))
      .map((f) => ({
        id: f.arm,
        cost: f.cost_per_request!,
        latency: f.latency_ms ?? 0,
        quality: qualityEstimate(f.quality_n, f.quality_sum).mean,
        f,
      }));
    const p = qualityEstimate(primary.quality_n, primary.quality_sum);
    const floor = policy.quality_floor;
    const eligible = paretoFront(points)
      .filter((pt) => pt.id !== seg.primary && pt.cost < primary.cost_per_request!)
      .map((pt) => {
        const q = qualityEstimate(pt.f.quality_n, pt.f.quality_sum);
        const z = (q.mean - floor * p.mean) / Math.sqrt(q.se ** 2 + floor ** 2 * p.se ** 2);
        return { pt, q, prob: normalCdf(z) };
      })
      .filter(
        (e) =>
          e.prob >= params.switch_threshold &&
          (policy.min_quality === undefined || e.q.mean >= policy.min_quality),
      )
      .sort((a, b) => a.pt.cost - b.pt.cost);
    const pick = eligible[0];
    if (!pick) continue;
    const costRel = pick.pt.cost / primary.cost_per_request - 1;
    const qRel = pick.q.mean / p.mean - 1;
    const qSe = Math.sqrt(pick.q.se ** 2 + p.se ** 2) / p.mean;
    const latRel = primary.latency_ms && pick.pt.latency ? pick.pt.latency / primary.latency_ms - 1 : null;
    out.push({
      strategy: 'cost_reduction',
      kind: 'cost_reduction',
      segment: seg.segment,
      canary_arm: pick.pt.id,
      baseline_arm: seg.primary,
      from_weights: seg.weights,
      to_weights: explorationWeights(pick.pt.id, [...seg.arms.keys()], {}, params.exploration_share),
      expected_impact: {
        cost: { relative: costRel, low: costRel, high: costRel },
        latency: latRel === null ? null : { relative: latRel, low: latRel, high: latRel },
        quality: { relative: qRel, low: qRel - 1.645 * qSe, high: qRel + 1.645 * qSe },
      },
      confidence: pick.prob,
      numbers: {
        p_keeps_floor: pick.prob,
        quality_new: pick.q.mean,
        quality_old: p.mean,
        cost_new_usd: pick.pt.cost,
        cost_old_usd: primary.cost_per_request,
        pareto_size: paretoFront(points).length,
        ...(pick.pt.latency ? { latency_new_ms: pick.pt.latency } : {}),
      },
      rationale: `${pick.pt.id} is ${paretoFront(points).length === 1 ? 'the one Pareto-optimal arm' : `the cheapest of ${paretoFront(points).length} Pareto-optimal arms`} whose quality keeps ${(floor * 100).toFixed(0)}% of ${seg.primary} with probability ${(pick.prob * 100).toFixed(1)}%`,
    });
  }
  return out;
}
