/**
 * Performance analyzer: latency percentiles against the SLO and against the arm's own baseline (a
 * rank test on merged sketches of the recent windows against the earlier ones), throughput, and the
 * error rate by type.
 */
import { mannWhitneySketches, mergeWindowHistograms, quantile } from '../intelligence/fast-sketch';
import { twoProportionZ } from '../stats/tests';
import type { AnalyzerOutput } from '../intelligence/types';
import { errorsIn, RECENT_WINDOWS } from '../intelligence/summary';
import { evidenceOf, finding, splitRecent, type AnalyzerContext } from './context';

/** Recent windows compared with the baseline, and the regression gates. */
export const PERFORMANCE_DEFAULTS = {
  recent_windows: 3,
  alpha: 0.01,
  latency_tolerance: 0.1,
  error_tolerance: 0.01,
};

export function analyzePerformance(ctx: AnalyzerContext, params = PERFORMANCE_DEFAULTS): AnalyzerOutput {
  const out: AnalyzerOutput = { insights: [], recommendations: [], alerts: [] };
  const slo = ctx.policy.latency_slo_ms;
  const pct = ctx.policy.latency_slo_percentile;
  for (const windows of ctx.groups.values()) {
    const { segment, arm } = windows[0]!;
    const s = ctx.summaries.get(segment)?.get(arm);
    if (!s || s.count === 0) continue;
    const observed = s.latency[pct];
    if (slo !== undefined && observed !== null && observed > slo) {
      out.alerts.push(
        finding(
          'performance',
          'latency_slo_breach',
          observed > 1.5 * slo ? 'critical' : 'warning',
          0.9,
          `${arm} in ${segment}: latency ${pct} ${observed.toFixed(0)} ms exceeds the ${slo} ms SLO`,
          evidenceOf(windows, { [`${pct}_ms`]: observed, slo_ms: slo }, segment, arm),
        ),
      );
    }
    const spanS = (Date.parse(s.to) - Date.parse(s.from)) / 1000;
    out.insights.push(
      finding(
        'performance',
        'throughput',
        'info',
        1,
        `${arm} in ${segment}: ${s.count} requests (${spanS > 0 ? (s.count / spanS).toFixed(2) : 'n/a'}/s), error rate ${((s.errors / s.count) * 100).toFixed(2)}%${
          Object.keys(s.errors_by_type).length
            ? ` (${Object.entries(s.errors_by_type)
                .map(([k, n]) => `${k} ${n}`)
                .join(', ')})`
            : ''
        }`,
        evidenceOf(
          windows,
          {
            requests: s.count,
            errors: s.errors,
            ...Object.fromEntries(Object.entries(s.errors_by_type).map(([k, n]) => [`errors_${k}`, n])),
          },
          segment,
          arm,
        ),
      ),
    );
    const { baseline, recent } = splitRecent(windows, params.recent_windows);
    if (baseline.length < params.recent_windows) continue;
    // The summary merged these parts already when it split at the same window.
    const shared = params.recent_windows === RECENT_WINDOWS && s.windows === windows.length;
    const b = shared && s.latency_baseline ? s.latency_baseline : mergeWindowHistograms(baseline);
    const r = shared && s.latency_recent ? s.latency_recent : mergeWindowHistograms(recent);
    if (b.count >= 30 && r.count >= 30) {
      const mw = mannWhitneySketches(b, r);
      const b95 = quantile(b, 0.95)!;
      const r95 = quantile(r, 0.95)!;
      const shift = r95 / b95 - 1;
      const shift50 = quantile(r, 0.5)! / quantile(b, 0.5)! - 1;
      const effect = Math.max(shift, shift50);
      if (mw.p_value < params.alpha && effect > params.latency_tolerance) {
        out.alerts.push(
          finding(
            'performance',
            'latency_regression',
            effect > 0.5 ? 'critical' : 'warning',
            1 - mw.p_value,
            `${arm} in ${segment}: latency rose against its baseline (p50 ${(shift50 * 100).toFixed(1)}%, p95 ${(shift * 100).toFixed(1)}%; Mann-Whitney p = ${mw.p_value.toPrecision(2)})`,
            evidenceOf(
              windows,
              {
                baseline_p95_ms: b95,
                recent_p95_ms: r95,
                p_value: mw.p_value,
                baseline_n: b.count,
                recent_n: r.count,
              },
              segment,
              arm,
            ),
          ),
        );
      }
    }
    // The summary totalled both parts as it merged them (when split at the same window).
    const be = shared ? s.baseline.errors : baseline.reduce((a, w) => a + errorsIn(w), 0);
    const bn = shared ? s.baseline.count : baseline.reduce((a, w) => a + w.count, 0);
    const re = shared ? s.recent.errors : recent.reduce((a, w) => a + errorsIn(w), 0);
    const rn = shared ? s.recent.count : recent.reduce((a, w) => a + w.count, 0);
    const z = twoProportionZ(be, bn, re, rn);
    if (z.p_value < params.alpha && z.diff > params.error_tolerance) {
      out.alerts.push(
        finding(
          'performance',
          'error_rate_regression',
          'critical',
          1 - z.p_value,
          `${arm} in ${segment}: error rate ${((be / bn) * 100).toFixed(2)}% → ${((re / rn) * 100).toFixed(2)}% (two-proportion p = ${z.p_value.toPrecision(2)})`,
          evidenceOf(
            windows,
            { baseline_error_rate: be / bn, recent_error_rate: re / rn, p_value: z.p_value },
            segment,
            arm,
          ),
        ),
      );
    }
    const sloErr = ctx.policy.error_rate_slo;
    if (sloErr !== undefined && rn > 0 && re / rn > sloErr) {
      out.alerts.push(
        finding(
          'performance',
          'error_rate_slo_breach',
          'warning',
          0.9,
          `${arm} in ${segment}: recent error rate ${((re / rn) * 100).toFixed(2)}% exceeds the ${(sloErr * 100).toFixed(2)}% SLO`,
          evidenceOf(recent, { error_rate: re / rn, slo: sloErr }, segment, arm),
        ),
      );
    }
  }
  return out;
}
