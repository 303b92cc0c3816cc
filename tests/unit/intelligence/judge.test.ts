import { describe, expect, it } from 'vitest';
import { judgeCanary, JUDGE_DEFAULTS } from '../../../domain/intelligence/judge';
import { buildAggregate, type RequestOutcome } from '../../../domain/intelligence/build-aggregate';
import { sampleNormal, seededRng, type Rng } from '../../../domain/stats/distributions';

interface ArmTruth {
  medianMs: number;
  errorRate: number;
  quality: number;
}

const baseTruth: ArmTruth = { medianMs: 800, errorRate: 0.01, quality: 0.8 };

function requests(truth: ArmTruth, n: number, rng: Rng): RequestOutcome[] {
  return Array.from({ length: n }, () => {
    const failed = rng() < truth.errorRate;
    return {
      latency_ms: truth.medianMs * Math.exp(0.5 * sampleNormal(rng)),
      status: failed ? 'error' : 'ok',
      cost_usd: 0.001,
      quality: failed ? undefined : rng() < truth.quality ? 1 : 0,
    } satisfies RequestOutcome;
  });
}

/** A stage observed over three windows, as the rollout workflow reads it. */
function stage(baseline: ArmTruth, canary: ArmTruth, n: number, seed: number) {
  const rng = seededRng(seed);
  const windows = (arm: string, truth: ArmTruth) =>
    [0, 1, 2].map((w) =>
      buildAggregate(
        {
          target: 't',
          segment: 'default',
          arm,
          window_start: `2026-01-01T0${w}:00:00.000Z`,
          window_end: `2026-01-01T0${w + 1}:00:00.000Z`,
        },
        requests(truth, Math.ceil(n / 3), rng),
      ),
    );
  return judgeCanary({ baseline: windows('base', baseline), canary: windows('canary', canary) });
}

function rate(trials: number, seed0: number, canary: ArmTruth, outcome: 'fail' | 'pass') {
  let hits = 0;
  for (let s = 0; s < trials; s++)
    if (stage(baseTruth, canary, JUDGE_DEFAULTS.min_samples_per_arm, seed0 + s).outcome === outcome) hits++;
  return hits / trials;
}

describe('canary judge calibration (simulated trials at the default minimum samples)', () => {
  it('an A/A canary fails in at most 1% of 300 trials', () => {
    const failRate = rate(300, 1000, baseTruth, 'fail');
    expect(failRate).toBeLessThanOrEqual(0.01);
  });

  it('a +30% latency regression fails in at least 95% of 100 trials', () => {
    expect(rate(100, 5000, { ...baseTruth, medianMs: 800 * 1.3 }, 'fail')).toBeGreaterThanOrEqual(0.95);
  });

  it('a +3 point error-rate regression fails in at least 95% of 100 trials', () => {
    expect(rate(100, 9000, { ...baseTruth, errorRate: 0.04 }, 'fail')).toBeGreaterThanOrEqual(0.95);
  });
});

describe('canary judge verdicts', () => {
  it('too few samples is marginal, not pass', () => {
    const v = stage(baseTruth, baseTruth, 60, 3);
    expect(v.outcome).toBe('marginal');
    expect(v.reasons[0]).toMatch(/insufficient samples/);
  });

  it('a severe critical regression fails at once, before the minimum sample size', () => {
    const v = stage(baseTruth, { ...baseTruth, medianMs: 2400 }, 300, 4);
    expect(v.outcome).toBe('fail');
    expect(v.metrics.find((m) => m.metric === 'latency')?.passed).toBe(false);
  });

  it('a quality drop beyond tolerance fails, a faster identical-quality canary passes', () => {
    expect(stage(baseTruth, { ...baseTruth, quality: 0.7 }, 1500, 5).outcome).toBe('fail');
    const v = stage(baseTruth, { ...baseTruth, medianMs: 600 }, 1500, 6);
    expect(v.outcome).toBe('pass');
    expect(v.samples.canary).toBeGreaterThanOrEqual(1500);
  });
});
