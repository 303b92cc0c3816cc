/**
 * Anomaly analyzer per segment × arm and metric (cost per request, error rate, latency p95, quality):
 * robust z (median, MAD) and EWMA control limits on the latest windows, CUSUM for drift. An alert needs
 * persistence — the last `persistence` windows all beyond the limit — so one noisy window never pages
 * anyone; anomalies in several metrics of one arm at once raise a collective alert.
 */
import { SERIES_METRICS, seriesOf } from '../intelligence/summary';
import { cusum, ewmaChart, median } from '../stats/tests';
import { normalCdf } from '../stats/distributions';
import type { AnalyzerOutput } from '../intelligence/types';
import type { WindowAggregate } from '../aggregate';
import { evidenceOf, finding, type AnalyzerContext } from './context';

/**
 * CUSUM's decision interval is 8 sigmas (in-control ARL about 19,000 windows a side by Siegmund's
 * approximation) because every cycle scans four metrics of every arm: at h = 5 (ARL about 465) a clean
 * target would page someone every few cycles.
 */
export const ANOMALY_DEFAULTS = { min_history: 8, z_limit: 3.5, persistence: 2, cusum_h: 8 };

/** Scratch columns of `analyzeAnomaly` (grown as needed, never shrunk). */
let xs = new Float64Array(256);
let deviations = new Float64Array(256);
let at = new Int32Array(256);

export function analyzeAnomaly(ctx: AnalyzerContext, params = ANOMALY_DEFAULTS): AnalyzerOutput {
  const out: AnalyzerOutput = { insights: [], recommendations: [], alerts: [] };
  for (const windows of ctx.groups.values()) {
    const { segment, arm } = windows[0]!;
    const summary = ctx.summaries.get(segment)?.get(arm);
    // The summary filled the series when it merged these windows; read rows again only without one.
    const series = summary && summary.windows === windows.length ? summary.series : seriesOf(windows);
    const flagged: string[] = [];
    for (const metric of SERIES_METRICS) {
      // The metric's values and the windows they come from (windows without a value are skipped), in
      // reused typed arrays: this runs for four metrics of every arm each cycle.
      const column = series[metric];
      if (column.length > xs.length) {
        xs = new Float64Array(2 * column.length);
        deviations = new Float64Array(2 * column.length);
        at = new Int32Array(2 * column.length);
      }
      let n = 0;
      for (let i = 0; i < column.length; i++) {
        const x = column[i]!;
        if (!Number.isNaN(x)) {
          xs[n] = x;
          at[n++] = i;
        }
      }
      if (n < params.min_history + params.persistence) continue;
      const windowAt = (k: number) => windows[at[k]!]!;
      // The history: every value but the last `persistence`.
      const h = n - params.persistence;
      const med = median(xs, h);
      // The larger of the MAD and the moving-range estimate (mean |x_i - x_{i-1}| / 1.128, the individuals
      // chart's sigma): MAD collapses on discretized values such as sketch percentiles.
      let rangeSum = 0;
      for (let i = 1; i < h; i++) rangeSum += Math.abs(xs[i]! - xs[i - 1]!);
      const movingRange = rangeSum / Math.max(1, h - 1);
      for (let i = 0; i < h; i++) deviations[i] = Math.abs(xs[i]! - med);
      const sigma = Math.max(1.4826 * median(deviations, h), movingRange / 1.128);
      if (!(sigma > 0)) continue;
      const zs: number[] = [];
      for (let k = h; k < n; k++) zs.push((xs[k]! - med) / sigma);
      const ewma = ewmaChart(xs, med, sigma, undefined, undefined, n);
      const persistentZ = zs.every((z) => Math.abs(z) > params.z_limit && Math.sign(z) === Math.sign(zs[0]!));
      let persistentEwma = true;
      for (let k = h; k < n; k++) persistentEwma &&= ewma.out[k]!;
      if (persistentZ || (persistentEwma && zs.every((z) => Math.abs(z) > 2))) {
        const z = zs.at(-1)!;
        const last: WindowAggregate[] = [];
        for (let k = h; k < n; k++) last.push(windowAt(k));
        flagged.push(metric);
        out.alerts.push(
          finding(
            'anomaly',
            `${metric}_anomaly`,
            Math.abs(z) > 6 ? 'critical' : 'warning',
            1 - 2 * (1 - normalCdf(Math.abs(z))),
            `${arm} in ${segment}: ${metric} ${xs[n - 1]!.toPrecision(4)} against a median of ${med.toPrecision(4)} for ${params.persistence} windows running (robust z ${z.toFixed(1)})`,
            evidenceOf(last, { value: xs[n - 1]!, median: med, robust_z: z, mad_sigma: sigma }, segment, arm),
          ),
        );
      }
      const drift = cusum(xs, med, sigma, 0.5, params.cusum_h, n);
      if (drift.index >= 0 && !persistentZ) {
        out.alerts.push(
          finding(
            'anomaly',
            `${metric}_drift`,
            'warning',
            0.99,
            `${arm} in ${segment}: ${metric} drifted ${drift.direction} (CUSUM crossed h = ${params.cusum_h}σ at window ${windowAt(drift.index).window_start})`,
            evidenceOf(
              Array.from(at.subarray(drift.index, n), (i) => windows[i]!),
              { median: med, sigma, from_index: drift.index },
              segment,
              arm,
            ),
          ),
        );
      }
    }
    if (flagged.length >= 2) {
      out.alerts.push(
        finding(
          'anomaly',
          'collective_anomaly',
          'critical',
          0.99,
          `${arm} in ${segment}: ${flagged.join(', ')} are anomalous together`,
          evidenceOf(windows.slice(-params.persistence), { metrics: flagged.length }, segment, arm),
        ),
      );
    }
  }
  return out;
}
