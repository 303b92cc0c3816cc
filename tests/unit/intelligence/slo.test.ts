/**
 * The health watch's SLO check: latency at the policy percentile, error rate and the quality floor
 * (relative to the pre-change baseline, and absolute), with no verdict on too few requests.
 */
import { describe, expect, it } from 'vitest';
import { buildAggregate, type RequestOutcome } from '../../../domain/intelligence/build-aggregate';
import { checkSlo } from '../../../domain/intelligence/slo';
import { TargetPolicy } from '../../../domain/model';
import { sampleNormal, seededRng } from '../../../domain/stats/distributions';

function window(arm: string, n: number, p: { latencyMs: number; errorRate: number; quality: number }) {
  const rng = seededRng(arm.length * 7 + n);
  const requests: RequestOutcome[] = [];
  for (let i = 0; i < n; i++) {
    const failed = rng() < p.errorRate;
    requests.push({
      latency_ms: p.latencyMs * Math.exp(0.3 * sampleNormal(rng)),
      status: failed ? 'error' : 'ok',
      cost_usd: 0.001,
      quality: Math.min(1, Math.max(0, p.quality + 0.05 * sampleNormal(rng))),
    });
  }
  return [
    buildAggregate(
      {
        target: 't',
        segment: 'default',
        arm,
        window_start: '2026-01-01T00:00:00.000Z',
        window_end: '2026-01-01T00:10:00.000Z',
      },
      requests,
    ),
  ];
}

const healthy = { latencyMs: 800, errorRate: 0.01, quality: 0.8 };
const baseline = window('baseline', 2000, healthy);

describe('checkSlo', () => {
  it('passes a window within every SLO', () => {
    const policy = TargetPolicy.parse({ latency_slo_ms: 2000, error_rate_slo: 0.05 });
    const r = checkSlo({ live: window('live', 2000, healthy), baseline, policy, minSamples: 500 });
    expect(r).toMatchObject({ outcome: 'ok', breaches: [], samples: 2000 });
    expect(r.metrics.latency_percentile).toBe('p95');
  });

  it('breaches the latency SLO at the policy percentile', () => {
    // Median 800 ms with sigma 0.3: p95 ≈ 1300 ms, p99 ≈ 1600 ms.
    const live = window('live', 2000, healthy);
    const p95 = TargetPolicy.parse({ latency_slo_ms: 1450 });
    expect(checkSlo({ live, baseline, policy: p95, minSamples: 500 }).outcome).toBe('ok');
    const p99 = TargetPolicy.parse({ latency_slo_ms: 1450, latency_slo_percentile: 'p99' });
    const r = checkSlo({ live, baseline, policy: p99, minSamples: 500 });
    expect(r.outcome).toBe('breach');
    expect(r.breaches[0]).toMatch(/^latency p99 \d+ ms > SLO 1450 ms/);
  });

  it('breaches the error-rate SLO', () => {
    const policy = TargetPolicy.parse({ error_rate_slo: 0.02 });
    const live = window('live', 2000, { ...healthy, errorRate: 0.05 });
    const r = checkSlo({ live, baseline, policy, minSamples: 500 });
    expect(r.outcome).toBe('breach');
    expect(r.breaches[0]).toMatch(/^error rate 5\.\d+% > SLO 2\.00%/);
  });

  it('breaches the quality floor relative to the pre-change baseline, and the absolute minimum', () => {
    const live = window('live', 2000, { ...healthy, quality: 0.7 });
    const relative = checkSlo({ live, baseline, policy: TargetPolicy.parse({}), minSamples: 500 });
    expect(relative.outcome).toBe('breach');
    expect(relative.breaches[0]).toMatch(/quality 0\.7\d+ < floor 0\.76\d+ \(0\.95 x pre-change baseline/);
    const absolute = checkSlo({
      live,
      baseline: [],
      policy: TargetPolicy.parse({ min_quality: 0.75 }),
      minSamples: 500,
    });
    expect(absolute.breaches).toEqual([expect.stringMatching(/< floor 0\.750 \(min_quality\)/)]);
  });

  it('gives no verdict on fewer requests than the minimum', () => {
    const policy = TargetPolicy.parse({ error_rate_slo: 0.001 });
    const r = checkSlo({ live: window('live', 100, healthy), baseline, policy, minSamples: 500 });
    expect(r).toMatchObject({ outcome: 'insufficient', samples: 100, breaches: [] });
    expect(checkSlo({ live: [], baseline, policy, minSamples: 1 }).outcome).toBe('insufficient');
  });
});
