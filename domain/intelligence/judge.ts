/**
 * The canary judge: compares a canary arm with its baseline over the same
 * windows and answers pass (promote), marginal (extend the bake) or fail (roll back).
 *
 * A metric fails only when the regression is both statistically significant after a Holm correction
 * across the metrics tested and larger than its effect-size tolerance, so an identical canary fails at
 * most at rate alpha while a material regression is caught. Latency and error rate are critical: their
 * failure ends the stage at once, even before the minimum sample size is reached. A quality drop beyond
 * tolerance fails too (the floor is never traded); a ttft regression only extends the bake (marginal).
 */
import { errorCount, mergeMoments, variance, type Moments, type WindowAggregate } from '../aggregate';
import { mannWhitneySketches, mergeHistograms, quantile } from './fast-sketch';
import { holmAdjust, twoProportionZ, welchTLess } from '../stats/tests';

export interface JudgeThresholds {
  /** Samples per arm before a pass is possible. */
  min_samples_per_arm: number;
  /** Samples per arm before a critical metric may fail the stage early. */
  critical_min_samples: number;
  /** Largest tolerated relative increase of latency p50 or p95 (0.1 = +10%). */
  latency_tolerance: number;
  /** Largest tolerated increase of the error rate in absolute points (0.01 = +1 point). */
  error_rate_tolerance: number;
  /** Largest tolerated relative decrease of mean quality (0.02 = -2%). */
  quality_tolerance: number;
  /** Family-wise significance level across the metrics tested (Holm). */
  alpha: number;
}

/**
 * Defaults. 1,500 samples per arm give at least 95% power against +3 error points from a 1-2% base
 * rate at alpha 0.01 split over four metrics (z of about 4.5 against a critical 2.8), and near 100%
 * against +30% latency; 200 (the rollout policy's default) would leave that power near 35%.
 */
export const JUDGE_DEFAULTS: JudgeThresholds = {
  min_samples_per_arm: 1500,
  critical_min_samples: 100,
  latency_tolerance: 0.1,
  error_rate_tolerance: 0.01,
  quality_tolerance: 0.02,
  alpha: 0.01,
};

export interface JudgeInput {
  baseline: WindowAggregate[];
  canary: WindowAggregate[];
  thresholds?: Partial<JudgeThresholds> | undefined;
}

export type MetricName = 'latency' | 'ttft' | 'error_rate' | 'quality';

export interface MetricVerdict {
  metric: MetricName;
  baseline: number;
  canary: number;
  /** Relative change for latency, ttft and quality; absolute points for error rate. */
  effect: number;
  /** Holm-adjusted one-sided p-value of a regression. */
  p_value: number;
  test: string;
  passed: boolean;
  critical: boolean;
}

export interface Verdict {
  outcome: 'pass' | 'marginal' | 'fail';
  reasons: string[];
  metrics: MetricVerdict[];
  samples: { baseline: number; canary: number };
}

interface Side {
  count: number;
  errors: number;
  quality: Moments;
  latency: string[];
  ttft: string[];
}

function collect(windows: readonly WindowAggregate[]): Side {
  const side: Side = { count: 0, errors: 0, quality: { count: 0, mean: 0, m2: 0 }, latency: [], ttft: [] };
  for (const w of windows) {
    side.count += w.count;
    side.errors += errorCount(w);
    side.quality = mergeMoments(side.quality, w.quality);
    if (w.latency_sketch) side.latency.push(w.latency_sketch);
    if (w.ttft_sketch) side.ttft.push(w.ttft_sketch);
  }
  return side;
}

interface RawMetric {
  metric: MetricName;
  baseline: number;
  canary: number;
  effect: number;
  p: number;
  test: string;
  beyondTolerance: boolean;
  critical: boolean;
}

function rankMetric(
  metric: 'latency' | 'ttft',
  base: string[],
  canary: string[],
  tol: number,
): RawMetric | null {
  const b = mergeHistograms(base);
  const c = mergeHistograms(canary);
  if (b.count === 0 || c.count === 0) return null;
  // Merged histograms of the sketches (tie within a bucket), read without the library's slow decoder.
  const mw = mannWhitneySketches(b, c);
  const shift = (q: number) => quantile(c, q)! / Math.max(quantile(b, q)!, 1e-9) - 1;
  const effect = Math.max(shift(0.5), shift(0.95));
  return {
    metric,
    baseline: quantile(b, 0.5)!,
    canary: quantile(c, 0.5)!,
    effect,
    p: mw.p_value,
    test: 'mann-whitney-u (one-sided, ties per sketch bucket)',
    beyondTolerance: effect > tol,
    critical: metric === 'latency',
  };
}

/** Judge one canary stage. Pure. */
export function judgeCanary(input: JudgeInput): Verdict {
  const t = { ...JUDGE_DEFAULTS, ...input.thresholds };
  const base = collect(input.baseline);
  const can = collect(input.canary);
  const samples = { baseline: base.count, canary: can.count };
  const raw: RawMetric[] = [];
  const lat = rankMetric('latency', base.latency, can.latency, t.latency_tolerance);
  if (lat) raw.push(lat);
  const ttft = rankMetric('ttft', base.ttft, can.ttft, t.latency_tolerance);
  if (ttft) raw.push(ttft);
  if (base.count > 0 && can.count > 0) {
    const z = twoProportionZ(base.errors, base.count, can.errors, can.count);
    raw.push({
      metric: 'error_rate',
      baseline: base.errors / base.count,
      canary: can.errors / can.count,
      effect: z.diff,
      p: z.p_value,
      test: 'two-proportion z (one-sided, pooled)',
      beyondTolerance: z.diff > t.error_rate_tolerance,
      critical: true,
    });
  }
  if (base.quality.count >= 2 && can.quality.count >= 2) {
    const w = welchTLess(
      { count: base.quality.count, mean: base.quality.mean, variance: variance(base.quality) },
      { count: can.quality.count, mean: can.quality.mean, variance: variance(can.quality) },
    );
    const effect = base.quality.mean > 0 ? can.quality.mean / base.quality.mean - 1 : w.diff;
    raw.push({
      metric: 'quality',
      baseline: base.quality.mean,
      canary: can.quality.mean,
      effect,
      p: w.p_value,
      test: 'welch t (one-sided)',
      beyondTolerance: effect < -t.quality_tolerance,
      critical: false,
    });
  }
  const adjusted = holmAdjust(raw.map((m) => m.p));
  const metrics: MetricVerdict[] = raw.map((m, i) => ({
    metric: m.metric,
    baseline: m.baseline,
    canary: m.canary,
    effect: m.effect,
    p_value: adjusted[i]!,
    test: m.test,
    passed: !(m.beyondTolerance && adjusted[i]! < t.alpha),
    critical: m.critical,
  }));
  const enough = Math.min(base.count, can.count) >= t.min_samples_per_arm;
  const criticalReady = Math.min(base.count, can.count) >= t.critical_min_samples;
  const describe = (m: MetricVerdict) =>
    `${m.metric} ${m.metric === 'error_rate' ? `${(m.baseline * 100).toFixed(2)}% -> ${(m.canary * 100).toFixed(2)}% (${m.effect >= 0 ? '+' : ''}${(m.effect * 100).toFixed(2)} points)` : `${fmt(m.baseline)} -> ${fmt(m.canary)} (${m.effect >= 0 ? '+' : ''}${(m.effect * 100).toFixed(1)}%)`}, adjusted p = ${m.p_value.toPrecision(2)}`;
  const reasons: string[] = [];
  const criticalFailures = metrics.filter((m) => !m.passed && (m.critical || m.metric === 'quality'));
  if (criticalFailures.length > 0 && (enough || criticalReady)) {
    for (const m of criticalFailures) reasons.push(`regression: ${describe(m)}`);
    return { outcome: 'fail', reasons, metrics, samples };
  }
  if (!enough) {
    reasons.push(
      `insufficient samples: baseline ${base.count}, canary ${can.count}, need ${t.min_samples_per_arm} per arm`,
    );
    return { outcome: 'marginal', reasons, metrics, samples };
  }
  const soft = metrics.filter((m) => !m.passed);
  if (soft.length > 0) {
    for (const m of soft) reasons.push(`non-critical regression, extend the bake: ${describe(m)}`);
    return { outcome: 'marginal', reasons, metrics, samples };
  }
  reasons.push(
    `no regression beyond tolerance at family-wise alpha ${t.alpha}: ${metrics.map(describe).join('; ')}`,
  );
  return { outcome: 'pass', reasons, metrics, samples };
}

const fmt = (x: number) => (Math.abs(x) >= 10 ? x.toFixed(0) : x.toFixed(3));

/**
 * Thresholds for judging a decision's canary: the defaults, with the quality tolerance widened to the
 * drop the decision itself expected (its 90% lower bound), so a deliberate trade the target's policy
 * allows is checked against its own forecast rather than failed for being the trade it is.
 */
export function judgeThresholdsFor(decision: {
  expected_impact: { quality: { low: number } | null };
}): Partial<JudgeThresholds> {
  const low = decision.expected_impact.quality?.low ?? 0;
  return { quality_tolerance: Math.max(JUDGE_DEFAULTS.quality_tolerance, -low) };
}
