/**
 * Quality analyzer: mean quality with confidence intervals, feedback rates, compliance with the
 * target's minimum quality, and degradation of recent windows against the arm's baseline.
 */
import { mergeMoments, variance } from '../aggregate';
import { meanInterval, welchTLess } from '../stats/tests';
import type { AnalyzerOutput } from '../intelligence/types';
import { RECENT_WINDOWS } from '../intelligence/summary';
import { evidenceOf, finding, splitRecent, type AnalyzerContext } from './context';

export const QUALITY_DEFAULTS = { recent_windows: 3, alpha: 0.01, tolerance: 0.02 };

export function analyzeQuality(ctx: AnalyzerContext, params = QUALITY_DEFAULTS): AnalyzerOutput {
  const out: AnalyzerOutput = { insights: [], recommendations: [], alerts: [] };
  for (const windows of ctx.groups.values()) {
    const { segment, arm } = windows[0]!;
    const s = ctx.summaries.get(segment)?.get(arm);
    if (!s) continue;
    if (s.quality.count >= 2) {
      const ci = meanInterval({ count: s.quality.count, mean: s.quality.mean, variance: s.quality_variance });
      out.insights.push(
        finding(
          'quality',
          'quality_mean',
          'info',
          0.95,
          `${arm} in ${segment}: quality ${s.quality.mean.toFixed(3)} (95% CI ${ci.low.toFixed(3)}–${ci.high.toFixed(3)}, n = ${s.quality.count})`,
          evidenceOf(
            windows,
            { mean: s.quality.mean, low: ci.low, high: ci.high, n: s.quality.count },
            segment,
            arm,
          ),
        ),
      );
      const min = ctx.policy.min_quality;
      if (min !== undefined && ci.high < min)
        out.alerts.push(
          finding(
            'quality',
            'quality_slo_breach',
            'critical',
            0.975,
            `${arm} in ${segment}: quality ${s.quality.mean.toFixed(3)} is below the minimum ${min} (upper 95% bound ${ci.high.toFixed(3)})`,
            evidenceOf(windows, { mean: s.quality.mean, high: ci.high, min_quality: min }, segment, arm),
          ),
        );
    }
    if (s.feedback_count > 0) {
      const up = s.thumbs_up / Math.max(1, s.thumbs_up + s.thumbs_down);
      out.insights.push(
        finding(
          'quality',
          'feedback_rate',
          'info',
          1,
          `${arm} in ${segment}: feedback on ${((s.feedback_count / Math.max(1, s.count)) * 100).toFixed(1)}% of requests, ${(up * 100).toFixed(0)}% thumbs up`,
          evidenceOf(
            windows,
            { feedback: s.feedback_count, thumbs_up: s.thumbs_up, thumbs_down: s.thumbs_down },
            segment,
            arm,
          ),
        ),
      );
    }
    const { baseline, recent } = splitRecent(windows, params.recent_windows);
    if (baseline.length < params.recent_windows) continue;
    const merge = (ws: typeof windows) =>
      ws.reduce((m, w) => mergeMoments(m, w.quality), { count: 0, mean: 0, m2: 0 });
    // The summary merged both parts in the same order when it split at the same window.
    const shared = params.recent_windows === RECENT_WINDOWS && s.windows === windows.length;
    const b = shared ? s.baseline.quality : merge(baseline);
    const r = shared ? s.recent.quality : merge(recent);
    if (b.count < 30 || r.count < 30) continue;
    const t = welchTLess(
      { count: b.count, mean: b.mean, variance: variance(b) },
      { count: r.count, mean: r.mean, variance: variance(r) },
    );
    const rel = b.mean > 0 ? r.mean / b.mean - 1 : 0;
    if (t.p_value < params.alpha && rel < -params.tolerance)
      out.alerts.push(
        finding(
          'quality',
          'quality_degradation',
          rel < -0.1 ? 'critical' : 'warning',
          1 - t.p_value,
          `${arm} in ${segment}: quality fell ${(rel * 100).toFixed(1)}% against its baseline (${b.mean.toFixed(3)} → ${r.mean.toFixed(3)}, Welch p = ${t.p_value.toPrecision(2)})`,
          evidenceOf(windows, { baseline: b.mean, recent: r.mean, p_value: t.p_value }, segment, arm),
        ),
      );
  }
  return out;
}
