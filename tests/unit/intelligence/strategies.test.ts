import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TargetPolicy } from '../../../domain/model';
import { runIntelligence } from '../../../domain/intelligence/cycle';
import { dominates, paretoFront } from '../../../domain/strategies/cost-reduction';
import { analyzeExperiment, proposePromptExperiments } from '../../../domain/strategies/prompt-optimization';
import { aimdStep } from '../../../domain/strategies/rate-limit';
import { planBatch } from '../../../domain/strategies/batching';
import { groupAggregates } from '../../../domain/intelligence/summary';
import { primaryArm } from '../../../domain/strategies/arm-stats';
import { thompsonWeights } from '../../../domain/strategies/model-selection';
import type { ExperimentDefinition } from '../../../domain/intelligence/types';
import { arm, at, series, type Truth } from './fixtures';

const policy = TargetPolicy.parse({ quality_floor: 0.95 });
const big: Truth = { quality: 0.8, cost: 0.01, medianMs: 900, errorRate: 0.005 };

function cycle(small: Truth, seed = 1, weights: Record<string, number> = { big: 9000, small: 1000 }) {
  const aggregates = [
    ...series('summarize', 'big', 24, 180, () => big, 11),
    ...series('summarize', 'small', 24, 60, () => small, 12),
  ];
  return runIntelligence({
    target: 'support-bot',
    policy,
    arms: [arm('big'), arm('small')],
    routing: { summarize: { version: 3, weights } },
    aggregates,
    active_rollouts: [],
    now: at(24),
    seed,
  });
}

describe('model selection', () => {
  it('moves a segment to a cheaper arm of equal quality', () => {
    const out = cycle({ ...big, cost: 0.001 });
    const d = out.decisions.find((x) => x.segment === 'summarize')!;
    expect(['model_switch', 'cost_reduction']).toContain(d.kind);
    expect(d.canary_arm).toBe('small');
    expect(d.baseline_arm).toBe('big');
    expect(d.to_weights!['small']).toBeGreaterThan(d.to_weights!['big']!);
    expect(d.expected_impact.cost!.relative).toBeLessThan(-0.8);
    expect(d.confidence).toBeGreaterThanOrEqual(0.9);
    expect(d.safety_checks.every((c) => c.passed)).toBe(true);
    expect(d.rollback_plan).toMatch(/version 3/);
    expect(d.explanation).toMatch(/small/);
  });

  it('keeps the arm when the cheaper one is 10% worse under a 95% floor', () => {
    const out = cycle({ ...big, cost: 0.001, quality: 0.72 });
    expect(out.decisions).toHaveLength(1);
    const d = out.decisions[0]!;
    // Nothing moves the segment off "big"; the worse arm's exploration share shrinks toward the minimum.
    expect(d.to_weights === null || primaryArm(d.to_weights) === 'big').toBe(true);
    expect(d.to_weights!['small']).toBeLessThan(1000);
    expect(d.explanation).toMatch(/big stays primary/);
    // A re-spread of exploration is its own kind of decision, not a model switch.
    expect(d.kind).toBe('exploration');
  });

  it('explores an arm dearer than the primary only at the floor share, however likely it is optimal', () => {
    const arms = ['cheap', 'mid', 'premium'];
    const pOpt = { cheap: 0.78, mid: 0.02, premium: 0.2 };
    const open = thompsonWeights('cheap', arms, pOpt, 0.1, 0.01);
    const capped = thompsonWeights('cheap', arms, pOpt, 0.1, 0.01, new Set(['premium']));
    expect(open['premium']).toBeGreaterThan(500);
    expect(capped['premium']).toBe(50); // the 1% floor split over the two other arms
    expect(capped['mid']).toBe(200);
    expect(capped['cheap']).toBe(9750);
    expect(Object.values(capped).reduce((a, b) => a + b, 0)).toBe(10_000);
  });

  it('explains a no_action with its numbers', () => {
    const out = cycle({ ...big, cost: 0.001, quality: 0.72 }, 1, { big: 9900, small: 100 });
    expect(out.decisions.map((d) => d.kind)).toEqual(['no_action']);
    expect(out.decisions[0]!.explanation).toMatch(
      /big stays: the best alternative small is the policy-optimal choice in \d+\.\d% of posterior draws/,
    );
  });

  it('is deterministic for a seed', () => {
    expect(cycle({ ...big, cost: 0.001 }, 7).decisions).toEqual(cycle({ ...big, cost: 0.001 }, 7).decisions);
  });

  it('does not touch a segment whose rollout is in progress', () => {
    const aggregates = [
      ...series('summarize', 'big', 12, 180, () => big, 1),
      ...series('summarize', 'small', 12, 20, () => ({ ...big, cost: 0.001 }), 2),
    ];
    const out = runIntelligence({
      target: 'support-bot',
      policy,
      arms: [arm('big'), arm('small')],
      routing: { summarize: { version: 3, weights: { big: 9000, small: 1000 } } },
      aggregates,
      active_rollouts: ['summarize'],
      now: at(12),
      seed: 1,
    });
    expect(out.decisions.map((d) => d.kind)).toEqual(['no_action']);
    expect(out.decisions[0]!.explanation).toMatch(/rollout is in progress/);
  });
});

describe('cost reduction: Pareto front', () => {
  const point = fc.record({
    id: fc.string(),
    cost: fc.integer({ min: 0, max: 20 }),
    latency: fc.integer({ min: 0, max: 20 }),
    quality: fc.integer({ min: 0, max: 20 }),
  });
  it('keeps exactly the non-dominated arms (property)', () => {
    fc.assert(
      fc.property(fc.array(point, { minLength: 1, maxLength: 15 }), (pts) => {
        const front = paretoFront(pts);
        expect(front.length).toBeGreaterThan(0);
        for (const p of front) expect(pts.some((q) => dominates(q, p))).toBe(false);
        for (const p of pts.filter((x) => !front.includes(x)))
          expect(pts.some((q) => dominates(q, p))).toBe(true);
      }),
    );
  });
});

describe('prompt optimization', () => {
  const def = (planned = [1, 1]): ExperimentDefinition => ({
    id: 'exp-1',
    segment: 'summarize',
    variants: ['v1', 'v2'],
    planned_shares: planned,
    started_at: at(0),
  });
  const experiment = (q1: number, q2: number, n1: number, n2: number, seed: number) =>
    groupAggregates([
      ...series('summarize', 'v1', 40, n1, () => ({ ...big, quality: q1 }), seed),
      ...series('summarize', 'v2', 40, n2, () => ({ ...big, quality: q2 }), seed + 7919),
    ]);

  it('an A/A experiment, looked at after every window, declares a winner in at most 5% of 200 seeds', () => {
    let winners = 0;
    for (let s = 0; s < 200; s++)
      if (analyzeExperiment(def(), experiment(0.7, 0.7, 50, 50, 100 + s)).winner !== null) winners++;
    // mSPRT bounds the false-winner rate by alpha = 0.05 at any stopping time.
    expect(winners / 200).toBeLessThanOrEqual(0.05);
  });

  it('finds a real +10 point improvement', () => {
    const status = analyzeExperiment(def(), experiment(0.6, 0.7, 50, 50, 3));
    expect(status.winner).toBe('v2');
    expect(status.treatments[0]!.p_value).toBeLessThan(0.05);
  });

  it('halts an experiment with a sample-ratio mismatch', () => {
    const groups = experiment(0.7, 0.7, 50, 44, 5); // 2000 vs 1760 against a planned 50/50: chi-square p ≈ 1e-4
    const [c] = proposePromptExperiments([def()], groups, {
      summarize: { version: 1, weights: { v1: 5000, v2: 5000 } },
    });
    expect(c!.rationale).toMatch(/sample-ratio mismatch/);
    expect(c!.to_weights).toEqual({ v1: 10000 });
    expect(c!.numbers['srm_p_value']).toBeLessThan(0.001);
  });
});

describe('adaptive rate limiting (AIMD)', () => {
  const win = (w: number, count: number) => series('s', 'a', 1, count, () => big, w)[0]!;
  it('backs off multiplicatively on 429s and climbs additively after clean windows', () => {
    const clean = [0, 1, 2, 3].map((w) => ({ ...win(w, 200), errors: {} }));
    const throttled = { ...clean[3]!, errors: { rate_limited: 20 } };
    expect(aimdStep([...clean.slice(0, 3), throttled], 10)?.to).toBe(7);
    expect(aimdStep(clean, 10)?.to).toBe(11);
  });
});

describe('batching', () => {
  it('picks the largest batch whose fill time keeps the SLO, and none without slack', () => {
    // 50 req/s, 400 ms service, 600 ms SLO at p95: 200 ms slack. The fill time of b-1 arrivals is Gamma(b-1, 1/50).
    const plan = planBatch(50, 400, 600, 0.95, 64);
    expect(plan.size).toBeGreaterThan(2);
    expect(plan.wait_ms).toBeLessThanOrEqual(200);
    expect(planBatch(50, 400, 601, 0.95, 64).size).toBeGreaterThanOrEqual(plan.size);
    expect(planBatch(50, 700, 600, 0.95, 64).size).toBe(1);
  });
});
