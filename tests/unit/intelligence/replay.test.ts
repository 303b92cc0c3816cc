import { describe, expect, it } from 'vitest';
import { runReplay, REPLAY_DEFAULTS, staticBest, type Query } from '../../../cli/replay';
import { seededRng } from '../../../domain/stats/distributions';
import { rollUp } from '../../../domain/intelligence/build-aggregate';
import { RECENT_WINDOWS, summarize } from '../../../domain/intelligence/summary';
import { mergeHistograms, percentiles } from '../../../domain/intelligence/fast-sketch';
import { emptyMoments, mergeMoments } from '../../../domain/aggregate';
import { series } from './fixtures';

/** Three segments; the cheap arm matches the premium one on "easy" and "chat" and is far worse on "math". */
function dataset(n: number, seed: number): Query[] {
  const rng = seededRng(seed);
  const p = { easy: [0.9, 0.9], chat: [0.8, 0.79], math: [0.85, 0.4] } as const;
  return Array.from({ length: n }, (_, i) => {
    const segment = (['easy', 'chat', 'math'] as const)[i % 3]!;
    const [qp, qc] = p[segment];
    return {
      id: `q${i}`,
      segment,
      outcomes: {
        premium: { quality: rng() < qp ? 1 : 0, cost_usd: 0.01 },
        cheap: { quality: rng() < qc ? 1 : 0, cost_usd: 0.001 },
      },
    };
  });
}

const opts = { ...REPLAY_DEFAULTS, cycle_every: 150 };

describe('replay', () => {
  it('saves money at the quality floor where a cheaper arm is as good, and keeps the premium arm where it is not', () => {
    const r = runReplay('synthetic', dataset(6000, 1), opts);
    expect(r.best_single.model).toBe('premium');
    expect(r.quality_ratio).toBeGreaterThanOrEqual(0.95);
    expect(r.cost_reduction).toBeGreaterThan(0.3);
    expect(r.rollouts.promoted).toBeGreaterThanOrEqual(1);
    expect(r.final_primary['premium']).toBeGreaterThanOrEqual(1);
  });

  it('never reads an outcome of an arm that did not serve: changing those leaves the run unchanged', () => {
    const queries = dataset(3000, 2);
    const served: string[] = [];
    const a = runReplay('synthetic', queries, opts, served);
    const tampered = queries.map((q, i) => ({
      ...q,
      outcomes: Object.fromEntries(
        Object.entries(q.outcomes).map(([arm, o]) => [
          arm,
          arm === served[i] ? o : { quality: 1 - o.quality, cost_usd: o.cost_usd * 7 },
        ]),
      ),
    }));
    const b = runReplay('synthetic', tampered, opts);
    expect(b.optimizer).toEqual(a.optimizer);
    expect(b.rollouts).toEqual(a.rollouts);
  });

  it('is deterministic for a seed', () => {
    const q = dataset(1500, 3);
    const { runtime_s: _a, ...x } = runReplay('synthetic', q, opts);
    const { runtime_s: _b, ...y } = runReplay('synthetic', q, opts);
    expect(x).toEqual(y);
  });

  it('static best keeps the floor and is no dearer than the best single model', () => {
    const q = dataset(3000, 4);
    const premium = q.reduce((a, x) => a + x.outcomes['premium']!.quality, 0) / q.length;
    const s = staticBest(q, ['cheap', 'premium'], 0.95 * premium);
    expect(s.quality).toBeGreaterThanOrEqual(0.95 * premium);
    expect(s.cost_usd).toBeLessThan(q.length * 0.01);
  });
});

describe('rolled-up windows', () => {
  it('summarize exactly like the windows they replace', () => {
    const windows = series(
      'chat',
      'a',
      6,
      50,
      () => ({ quality: 0.7, cost: 0.002, medianMs: 500, errorRate: 0.05 }),
      21,
    );
    const whole = summarize(windows);
    const rolled = summarize([rollUp(windows.slice(0, 4)), ...windows.slice(4)]);
    expect(rolled.count).toBe(whole.count);
    expect(rolled.errors).toBe(whole.errors);
    expect(rolled.cost_usd).toBeCloseTo(whole.cost_usd, 12);
    expect(rolled.quality.mean).toBeCloseTo(whole.quality.mean, 12);
    expect(rolled.quality.m2).toBeCloseTo(whole.quality.m2, 9);
    expect(rolled.latency).toEqual(whole.latency);
  });

  it('summarize merges each sketch once into baseline and recent parts that add up to the whole', () => {
    const windows = series(
      'chat',
      'a',
      9,
      40,
      () => ({ quality: 0.6, cost: 0.001, medianMs: 700, errorRate: 0.02 }),
      22,
    );
    const s = summarize(windows);
    expect(s.latency).toEqual(percentiles(mergeHistograms(windows.map((w) => w.latency_sketch))));
    expect(s.latency_baseline!.count).toBe(
      mergeHistograms(windows.slice(0, -RECENT_WINDOWS).map((w) => w.latency_sketch)).count,
    );
    expect(s.latency_recent!.count + s.latency_baseline!.count).toBe(
      mergeHistograms(windows.map((w) => w.latency_sketch)).count,
    );
    const moments = windows.reduce((m, w) => mergeMoments(m, w.quality), emptyMoments());
    expect(s.quality.count).toBe(moments.count);
    expect(s.quality.mean).toBeCloseTo(moments.mean, 12);
    expect(s.quality.m2).toBeCloseTo(moments.m2, 9);
  });
});
