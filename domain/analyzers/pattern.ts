/**
 * Pattern analyzer over the target's request series: daily and weekly seasonality (autocorrelation at
 * the period's lag), bursts (robust z of a window's volume), a growth trend with a next-day forecast,
 * and shifts in the segment mix (chi-square of the recent half against the earlier half).
 */
import { chiSquareGof, linearTrend, robustZ } from '../stats/tests';
import type { AnalyzerOutput } from '../intelligence/types';
import { evidenceOf, finding, targetSeries, type AnalyzerContext } from './context';

function autocorrelation(xs: readonly number[], lag: number): number {
  const n = xs.length;
  if (lag <= 0 || lag >= n - 2) return 0;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    den += (xs[i]! - mean) ** 2;
    if (i + lag < n) num += (xs[i]! - mean) * (xs[i + lag]! - mean);
  }
  return den > 0 ? num / den : 0;
}

export function analyzePattern(ctx: AnalyzerContext): AnalyzerOutput {
  const out: AnalyzerOutput = { insights: [], recommendations: [], alerts: [] };
  const series = targetSeries(ctx.aggregates);
  if (series.length < 6) return out;
  const counts = series.map((w) => w.count);
  const windowMs = Date.parse(series[0]!.end) - Date.parse(series[0]!.start);
  const ev = (values: Record<string, number>) => evidenceOf(ctx.range, values, null, null);
  for (const [name, periodMs] of [
    ['daily', 86_400_000],
    ['weekly', 7 * 86_400_000],
  ] as const) {
    const lag = windowMs > 0 ? Math.round(periodMs / windowMs) : 0;
    if (lag > 0 && series.length >= 2 * lag) {
      const r = autocorrelation(counts, lag);
      // 2 / sqrt(n) is the usual large-sample bound of a white-noise autocorrelation.
      if (r > Math.max(0.3, 2 / Math.sqrt(series.length)))
        out.insights.push(
          finding(
            'pattern',
            `${name}_seasonality`,
            'info',
            Math.min(0.99, r),
            `${name} seasonality in request volume (autocorrelation ${r.toFixed(2)} at lag ${lag} windows)`,
            ev({ autocorrelation: r, lag }),
          ),
        );
    }
  }
  const z = robustZ(counts);
  z.forEach((v, i) => {
    if (v > 4 && counts[i]! > 10)
      out.insights.push(
        finding(
          'pattern',
          'burst',
          'warning',
          0.99,
          `burst: ${counts[i]} requests in the window from ${series[i]!.start} (robust z ${v.toFixed(1)})`,
          evidenceOf(
            ctx.aggregates.filter((a) => a.window_start === series[i]!.start),
            { count: counts[i]!, robust_z: v },
            null,
            null,
          ),
        ),
      );
  });
  const trend = linearTrend(counts);
  if (trend.p_value < 0.01 && windowMs > 0) {
    const perDay = 86_400_000 / windowMs;
    const forecast = (trend.intercept + trend.slope * (counts.length - 1 + perDay / 2)) * perDay;
    out.insights.push(
      finding(
        'pattern',
        trend.slope > 0 ? 'growth_trend' : 'decline_trend',
        'info',
        1 - trend.p_value,
        `volume ${trend.slope > 0 ? 'grows' : 'declines'} by ${trend.slope.toFixed(2)} requests per window (p = ${trend.p_value.toPrecision(2)}); forecast for the next day ≈ ${Math.max(0, forecast).toFixed(0)} requests`,
        ev({ slope: trend.slope, p_value: trend.p_value, forecast_next_day: forecast }),
      ),
    );
  }
  const half = Math.floor(series.length / 2);
  const segs = [...new Set(ctx.aggregates.map((a) => a.segment))].sort();
  if (segs.length > 1) {
    const sum = (ws: typeof series) => segs.map((s) => ws.reduce((a, w) => a + (w.bySegment[s] ?? 0), 0));
    const early = sum(series.slice(0, half));
    const late = sum(series.slice(half));
    if (early.every((x) => x > 0)) {
      const chi = chiSquareGof(late, early);
      if (chi.p_value < 0.001)
        out.insights.push(
          finding(
            'pattern',
            'segment_mix_shift',
            'warning',
            1 - chi.p_value,
            `the segment mix shifted between the first and second half of the windows (chi-square ${chi.statistic.toFixed(1)}, p = ${chi.p_value.toPrecision(2)})`,
            ev({ chi_square: chi.statistic, p_value: chi.p_value }),
          ),
        );
    }
  }
  return out;
}
