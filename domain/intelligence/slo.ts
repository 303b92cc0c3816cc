/**
 * SLO check of the health watch: the promoted arm's live window against the
 * target policy's absolute limits — latency at the policy's percentile (`latency_slo_ms` at
 * `latency_slo_percentile`, p95 by default or p99), error rate (`error_rate_slo`), and quality: never
 * below `quality_floor` times the pre-change baseline's mean quality, nor below `min_quality`.
 * A change can keep within the judge's tolerance of its baseline and still break an SLO (a baseline
 * that was already near its limit); this catches that. Persistence is the caller's: one breaching
 * window is a strike, not a rollback. Pure.
 */
import type { WindowAggregate } from '../aggregate';
import type { TargetPolicy } from '../model';
import { summarize } from './summary';

export interface SloCheck {
  /** `insufficient` when the window holds fewer requests than the minimum: no verdict either way. */
  outcome: 'ok' | 'breach' | 'insufficient';
  /** One readable line per SLO broken. */
  breaches: string[];
  samples: number;
  /** The live values checked (absent when not measured). */
  metrics: {
    latency_ms?: number;
    latency_percentile?: 'p50' | 'p90' | 'p95' | 'p99';
    error_rate?: number;
    quality_mean?: number;
    quality_limit?: number;
  };
}

export interface SloCheckInput {
  /** The promoted arm's windows of the interval checked. */
  live: readonly WindowAggregate[];
  /** The baseline arm's pre-change windows: the reference of the relative quality floor. */
  baseline: readonly WindowAggregate[];
  policy: Pick<
    TargetPolicy,
    'latency_slo_ms' | 'latency_slo_percentile' | 'error_rate_slo' | 'quality_floor' | 'min_quality'
  >;
  /** Requests needed in the live window before any SLO is judged. */
  minSamples: number;
}

/** Quality scores needed on each side before the quality floor is judged (a mean of a handful is noise). */
const MIN_QUALITY_SCORES = 30;

export function checkSlo(input: SloCheckInput): SloCheck {
  const live = input.live.length > 0 ? summarize(input.live) : null;
  const samples = live?.count ?? 0;
  if (!live || samples < input.minSamples) {
    return {
      outcome: 'insufficient',
      breaches: [],
      samples,
      metrics: {},
    };
  }
  const { policy } = input;
  const breaches: string[] = [];
  const metrics: SloCheck['metrics'] = {};

  const percentile = policy.latency_slo_percentile;
  const latency = live.latency[percentile];
  if (latency !== null) {
    metrics.latency_ms = latency;
    metrics.latency_percentile = percentile;
    if (policy.latency_slo_ms !== undefined && latency > policy.latency_slo_ms) {
      breaches.push(
        `latency ${percentile} ${Math.round(latency)} ms > SLO ${policy.latency_slo_ms} ms (${samples} requests)`,
      );
    }
  }

  const errorRate = live.errors / live.count;
  metrics.error_rate = errorRate;
  if (policy.error_rate_slo !== undefined && errorRate > policy.error_rate_slo) {
    breaches.push(
      `error rate ${(errorRate * 100).toFixed(2)}% > SLO ${(policy.error_rate_slo * 100).toFixed(2)}% (${live.errors}/${live.count})`,
    );
  }

  if (live.quality.count >= MIN_QUALITY_SCORES) {
    metrics.quality_mean = live.quality.mean;
    const base = input.baseline.length > 0 ? summarize(input.baseline, false) : null;
    const relative =
      base && base.quality.count >= MIN_QUALITY_SCORES ? policy.quality_floor * base.quality.mean : 0;
    const limit = Math.max(relative, policy.min_quality ?? 0);
    if (limit > 0) {
      metrics.quality_limit = limit;
      if (live.quality.mean < limit) {
        breaches.push(
          `quality ${live.quality.mean.toFixed(3)} < floor ${limit.toFixed(3)} (${relative >= (policy.min_quality ?? 0) ? `${policy.quality_floor} x pre-change baseline ${base!.quality.mean.toFixed(3)}` : 'min_quality'})`,
        );
      }
    }
  }
  return { outcome: breaches.length > 0 ? 'breach' : 'ok', breaches, samples, metrics };
}
