import { describe, expect, it } from 'vitest';
import { TargetPolicy } from '../../../domain/model';
import type { WindowAggregate } from '../../../domain/aggregate';
import { runIntelligence } from '../../../domain/intelligence/cycle';
import { errorsIn, seriesOf, summarize } from '../../../domain/intelligence/summary';
import { arm, at, series, type Truth } from './fixtures';

const base: Truth = { quality: 0.8, cost: 0.002, medianMs: 800, errorRate: 0.01 };
const policy = TargetPolicy.parse({ quality_floor: 0.95, latency_slo_ms: 2000 });

function report(aggregates: WindowAggregate[], p = policy) {
  return runIntelligence({
    target: 'support-bot',
    policy: p,
    arms: [arm('a')],
    routing: { chat: { version: 1, weights: { a: 10000 } } },
    aggregates,
    active_rollouts: [],
    now: at(48),
    seed: 1,
  }).report;
}

const codes = (r: ReturnType<typeof report>) => r.alerts.map((a) => a.code);

describe('analyzers on clean data', () => {
  it('raise no alert over 48 stationary windows (several seeds)', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = report(series('chat', 'a', 48, 200, () => base, seed));
      expect(r.alerts).toEqual([]);
      expect(r.insights.some((f) => f.code === 'quality_mean')).toBe(true);
    }
  });
});

describe('analyzers on injected patterns', () => {
  it('a latency regression in the last windows raises a performance alert with its evidence', () => {
    const r = report(series('chat', 'a', 48, 200, (w) => (w >= 45 ? { ...base, medianMs: 1100 } : base), 9));
    const alert = r.alerts.find((a) => a.code === 'latency_regression')!;
    expect(alert.analyzer).toBe('performance');
    expect(alert.confidence).toBeGreaterThan(0.99);
    expect(alert.evidence.values['recent_p95_ms']).toBeGreaterThan(alert.evidence.values['baseline_p95_ms']!);
    expect(alert.evidence.arm).toBe('a');
  });

  it('a persistent cost spike raises an anomaly alert; a single noisy window does not', () => {
    const spiked = report(
      series('chat', 'a', 48, 200, (w) => (w >= 46 ? { ...base, cost: 0.006 } : base), 10),
    );
    expect(codes(spiked)).toContain('cost_per_request_anomaly');
    const once = report(
      series('chat', 'a', 48, 200, (w) => (w === 46 ? { ...base, cost: 0.006 } : base), 10),
    );
    expect(codes(once)).not.toContain('cost_per_request_anomaly');
  });

  it('a slow quality drift is caught by CUSUM', () => {
    const r = report(
      series(
        'chat',
        'a',
        48,
        200,
        (w) => (w >= 24 ? { ...base, quality: 0.8 - (w - 24) * 0.004 } : base),
        12,
      ),
    );
    expect(
      codes(r).some((c) => c === 'quality_drift' || c === 'quality_anomaly' || c === 'quality_degradation'),
    ).toBe(true);
  });

  it('an SLO breach and a budget overrun are reported with their numbers', () => {
    const r = report(
      series('chat', 'a', 48, 200, () => ({ ...base, medianMs: 2600 }), 13),
      TargetPolicy.parse({ latency_slo_ms: 2000, budget_usd_per_day: 5 }),
    );
    const slo = r.alerts.find((a) => a.code === 'latency_slo_breach')!;
    expect(slo.evidence.values['slo_ms']).toBe(2000);
    const budget = r.alerts.find((a) => a.code === 'budget_overrun_forecast')!;
    expect(budget.evidence.values['forecast_usd']).toBeGreaterThan(5);
  });

  it('a growth trend is reported with a forecast', () => {
    const rising = Array.from(
      { length: 48 },
      (_, w) => series('chat', 'a', 1, 100 + 5 * w, () => base, 100 + w)[0]!,
    ).map((a, w) => ({ ...a, window_start: at(w), window_end: at(w + 1) }));
    const r = report(rising);
    const trend = r.insights.find((f) => f.code === 'growth_trend')!;
    expect(trend.evidence.values['slope']).toBeCloseTo(5, 0);
  });
});

describe('per-window metric series', () => {
  it('summarize fills the series the anomaly analyzer reads, as a fresh pass over the rows does', () => {
    const windows = series('chat', 'a', 12, 50, (w) => (w === 3 ? { ...base, errorRate: 0.2 } : base), 4);
    // A window without quality scores or latency has no value in those series.
    windows[5] = { ...windows[5]!, quality: { count: 0, mean: 0, m2: 0 } };
    windows[6] = { ...windows[6]!, latency: { p50: null, p90: null, p95: null, p99: null } };
    const s = summarize(windows).series;
    expect(s).toEqual(seriesOf(windows));
    expect(s.error_rate[3]).toBeCloseTo(errorsIn(windows[3]!) / windows[3]!.count, 12);
    expect(s.cost_per_request[0]).toBeCloseTo(windows[0]!.cost_usd / windows[0]!.count, 12);
    expect(s.latency_p95_ms[0]).toBe(windows[0]!.latency.p95);
    expect(s.quality[5]).toBeNaN();
    expect(s.latency_p95_ms[6]).toBeNaN();
    expect(s.quality[4]).toBe(windows[4]!.quality.mean);
  });
});
