/**
 * Prompt optimization: A/B/n experiments over prompt variants (arms of one segment).
 * Assignment is sticky through the routing hash; stopping uses the mixture SPRT so the result is valid
 * whenever it is read (each window end is a look, the p-value is the running minimum over looks); a
 * sample-ratio mismatch (chi-square, p < 0.001) halts the experiment because its comparison is broken.
 */
import { TOTAL_BASIS_POINTS } from '../model';
import { mergeMoments, variance, type Moments, type WindowAggregate } from '../aggregate';
import { chiSquareGof, msprt } from '../stats/tests';
import { key } from '../intelligence/summary';
import type { Candidate, ExperimentDefinition, SegmentRouting } from '../intelligence/types';

export interface ExperimentParams {
  /** Family-wise false-winner rate across the treatments (Bonferroni). */
  alpha: number;
  /** Halt threshold of the sample-ratio-mismatch test. */
  srm_alpha: number;
  /** Mixing variance of the mSPRT: the squared size of quality differences worth finding. */
  tau2: number;
}

export const EXPERIMENT_DEFAULTS: ExperimentParams = { alpha: 0.05, srm_alpha: 0.001, tau2: 0.05 ** 2 };

export interface ExperimentStatus {
  id: string;
  srm_p_value: number;
  halted: boolean;
  /** Per treatment: always-valid p-value against the control and the current difference. */
  treatments: { variant: string; diff: number; p_value: number; n: number }[];
  winner: string | null;
}

/** Always-valid analysis of one experiment from its windows, looks in window order. */
export function analyzeExperiment(
  def: ExperimentDefinition,
  groups: ReadonlyMap<string, readonly WindowAggregate[]>,
  params: ExperimentParams = EXPERIMENT_DEFAULTS,
): ExperimentStatus {
  const windows = def.variants.map((v) => groups.get(key(def.segment, v)) ?? []);
  const counts = windows.map((ws) => ws.reduce((a, w) => a + w.count, 0));
  const observed = def.exposures ? def.variants.map((v) => def.exposures![v] ?? 0) : counts;
  const srm = chiSquareGof(observed, def.planned_shares);
  const halted = srm.p_value < params.srm_alpha;
  const looks = [...new Set(windows.flat().map((w) => w.window_end))].sort();
  const alpha = params.alpha / Math.max(1, def.variants.length - 1);
  const cumulative = (ws: readonly WindowAggregate[], upTo: string): Moments =>
    ws
      .filter((w) => w.window_end <= upTo)
      .reduce((m, w) => mergeMoments(m, w.quality), { count: 0, mean: 0, m2: 0 });
  const treatments = def.variants.slice(1).map((variant, i) => {
    let p = 1;
    let diff = 0;
    let n = 0;
    for (const look of looks) {
      const c = cumulative(windows[0]!, look);
      const t = cumulative(windows[i + 1]!, look);
      if (c.count < 2 || t.count < 2) continue;
      diff = t.mean - c.mean;
      n = t.count;
      const v = variance(c) / c.count + variance(t) / t.count;
      p = Math.min(p, msprt(diff, v, params.tau2).p_value);
    }
    return { variant, diff, p_value: p, n };
  });
  const winners = treatments.filter((t) => t.p_value < alpha && t.diff > 0).sort((a, b) => b.diff - a.diff);
  return {
    id: def.id,
    srm_p_value: srm.p_value,
    halted,
    treatments,
    winner: halted ? null : (winners[0]?.variant ?? null),
  };
}

/** Candidates: halt an experiment with a sample-ratio mismatch, or promote a significant winner. */
export function proposePromptExperiments(
  experiments: readonly ExperimentDefinition[],
  groups: ReadonlyMap<string, readonly WindowAggregate[]>,
  routing: Record<string, SegmentRouting>,
  params: ExperimentParams = EXPERIMENT_DEFAULTS,
): Candidate[] {
  const out: Candidate[] = [];
  for (const def of experiments) {
    const r = routing[def.segment];
    if (!r || def.variants.length < 2) continue;
    const status = analyzeExperiment(def, groups, params);
    const control = def.variants[0]!;
    if (status.halted) {
      out.push({
        strategy: 'prompt_optimization',
        kind: 'prompt_variant',
        segment: def.segment,
        canary_arm: control,
        baseline_arm: control,
        from_weights: r.weights,
        to_weights: { [control]: TOTAL_BASIS_POINTS },
        expected_impact: { cost: null, latency: null, quality: null },
        confidence: 1 - status.srm_p_value,
        numbers: { srm_p_value: status.srm_p_value },
        rationale: `experiment ${def.id} halted: sample-ratio mismatch (chi-square p = ${status.srm_p_value.toPrecision(2)} < ${params.srm_alpha}), so its comparison cannot be trusted; traffic returns to the control ${control}`,
      });
      continue;
    }
    const win = status.treatments.find((t) => t.variant === status.winner);
    if (!win) continue;
    const ctrl = (groups.get(key(def.segment, control)) ?? []).reduce((m, w) => mergeMoments(m, w.quality), {
      count: 0,
      mean: 0,
      m2: 0,
    });
    const rel = ctrl.mean > 0 ? win.diff / ctrl.mean : 0;
    out.push({
      strategy: 'prompt_optimization',
      kind: 'prompt_variant',
      segment: def.segment,
      canary_arm: win.variant,
      baseline_arm: control,
      from_weights: r.weights,
      to_weights: { [win.variant]: TOTAL_BASIS_POINTS },
      expected_impact: { cost: null, latency: null, quality: { relative: rel, low: 0, high: 2 * rel } },
      confidence: 1 - win.p_value,
      numbers: {
        always_valid_p: win.p_value,
        quality_diff: win.diff,
        samples: win.n,
        srm_p_value: status.srm_p_value,
      },
      rationale: `variant ${win.variant} beats control ${control} by ${win.diff.toFixed(3)} in mean quality over ${win.n} samples, always-valid p = ${win.p_value.toPrecision(2)} (mSPRT), no sample-ratio mismatch (p = ${status.srm_p_value.toPrecision(2)})`,
    });
  }
  return out;
}
