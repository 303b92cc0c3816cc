/**
 * The before/after judgement of a serving change (domain/intelligence/serving-rollout.ts) on windows
 * built from simulated requests: the canary judge compares the arm after the change with the same arm
 * before it, the SLO check holds the after window to the policy, and the two combine into one verdict.
 * An unchanged arm passes; injected regressions after the change (429s, latency, an SLO breach) fail.
 */
import { describe, expect, it } from 'vitest';
import { buildAggregate } from '../../../domain/intelligence/build-aggregate';
import { judgeCanary } from '../../../domain/intelligence/judge';
import {
  describeServingChange,
  servingVerdict,
  windowBefore,
} from '../../../domain/intelligence/serving-rollout';
import { checkSlo } from '../../../domain/intelligence/slo';
import { TargetPolicy } from '../../../domain/model';
import { seededRng } from '../../../domain/stats/distributions';
import { at, requestsOf, type Truth } from './fixtures';

/**
 * One hour-long window of arm `big` starting at hour `hour`, its failures answered 429 by the provider
 * (rate limiting is what a serving change most often moves).
 */
function window(seed: number, n: number, truth: Truth, hour: number) {
  const requests = requestsOf(truth, n, seededRng(seed)).map((r) =>
    r.status === 'error' ? { ...r, status: 'rate_limited' as const } : r,
  );
  const key = {
    target: 't',
    segment: 'default',
    arm: 'big',
    window_start: at(hour),
    window_end: at(hour + 1),
  };
  return [buildAggregate(key, requests)];
}

const healthy: Truth = { medianMs: 800, errorRate: 0.01, quality: 0.8, cost: 0.001 };
const before = window(1, 2000, healthy, 0);
const AFTER = 1;

function judge(after: ReturnType<typeof window>, policy = TargetPolicy.parse({})) {
  return servingVerdict(
    judgeCanary({ baseline: before, canary: after, thresholds: { min_samples_per_arm: 1500 } }),
    checkSlo({ live: after, baseline: before, policy, minSamples: 1500 }),
  );
}

describe('serving change judged before/after', () => {
  it('compares with the window of equal span that ends where the change began', () => {
    expect(windowBefore({ from: '2026-01-01T01:00:00.000Z', to: '2026-01-01T01:25:00.000Z' })).toEqual({
      from: '2026-01-01T00:35:00.000Z',
      to: '2026-01-01T01:00:00.000Z',
    });
  });

  it('passes an arm that serves after the change as it did before', () => {
    const v = judge(window(2, 2000, healthy, AFTER), TargetPolicy.parse({ error_rate_slo: 0.05 }));
    expect(v.outcome).toBe('pass');
    expect(v.samples).toEqual({ baseline: 2000, canary: 2000 });
  });

  it('fails a change after which the provider answers more 429s', () => {
    const v = judge(window(3, 2000, { ...healthy, errorRate: 0.06 }, AFTER));
    expect(v.outcome).toBe('fail');
    expect(v.metrics.find((m) => m.metric === 'error_rate')).toMatchObject({ passed: false });
  });

  it('fails a change after which latency regresses', () => {
    const v = judge(window(4, 2000, { ...healthy, medianMs: 1100 }, AFTER));
    expect(v.outcome).toBe('fail');
    expect(v.metrics.find((m) => m.metric === 'latency')).toMatchObject({ passed: false });
  });

  it('fails a change within the judge tolerance that breaks an SLO of the target', () => {
    // +5% latency passes the judge (tolerance 10%) but p95 (about 1370 ms) exceeds a 1300 ms SLO.
    const v = judge(
      window(5, 2000, { ...healthy, medianMs: 840 }, AFTER),
      TargetPolicy.parse({ latency_slo_ms: 1300 }),
    );
    expect(v.outcome).toBe('fail');
    expect(v.reasons).toEqual([expect.stringMatching(/^SLO breached: latency p95 \d+ ms > SLO 1300 ms/)]);
  });

  it('extends the bake while the after window holds too few requests', () => {
    const v = judge(window(6, 200, healthy, AFTER));
    expect(v.outcome).toBe('marginal');
    expect(v.reasons[0]).toContain('insufficient samples');
  });

  it('describes the change in words', () => {
    expect(describeServingChange({ arm: 'big', field: 'batch_size', from: null, to: 8 })).toBe(
      'batch_size of arm big from unset to 8',
    );
  });
});
