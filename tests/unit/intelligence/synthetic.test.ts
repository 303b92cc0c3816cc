import { describe, expect, it } from 'vitest';
import { generateScenario, PREMIUM_ABILITY, VALUE_GAP, type Scenario } from '../../../cli/synthetic';
import { runReplay, REPLAY_DEFAULTS, cycleEveryFor } from '../../../cli/replay';

const expit = (x: number) => 1 / (1 + Math.exp(-x));

describe('synthetic scenarios', () => {
  it('are the same for a seed, and their ground truth is the cheapest arm keeping 95% of the premium arm in every segment', () => {
    const sc: Partial<Scenario> = { arms: 12, segments: 30, queries: 3000, skew: 1.2, seed: 4 };
    const a = generateScenario(sc);
    expect(generateScenario(sc)).toEqual(a);
    const { truth } = a;
    for (const seg of Object.keys(truth.traffic)) {
      const keep = Object.keys(truth.price).filter(
        (arm) => truth.quality[arm]![seg]! >= 0.95 * truth.quality[truth.premium]![seg]!,
      );
      const cheapest = keep.reduce((x, y) => (truth.price[y]! < truth.price[x]! ? y : x));
      expect(cheapest).toBe(truth.value);
    }
    // Skewed traffic: the busiest segment carries more than the quietest, as the Zipf weights say.
    const shares = Object.values(truth.traffic);
    expect(Math.max(...shares) / Math.min(...shares)).toBeCloseTo(Math.pow(30, 1.2), 6);
  });

  it('add an arm mid-run only from the query that introduces it, and change a price and a quality mid-run', () => {
    const { queries, truth } = generateScenario({
      arms: 4,
      segments: 2,
      queries: 1000,
      new_arm: { at: 0.5, price_ratio: 0.02 },
      price_change: { at: 0.5, factor: 15 },
      degrade: { at: 0.5, by: 3 },
    });
    expect(queries.findIndex((q) => q.introduces?.includes(truth.new_arm!))).toBe(500);
    expect(queries[499]!.outcomes[truth.value]!.cost_usd * 15).toBeCloseTo(
      queries[500]!.outcomes[truth.value]!.cost_usd,
      12,
    );
    const correct = (from: number, to: number) =>
      queries.slice(from, to).reduce((s, q) => s + q.outcomes[truth.value]!.quality, 0) / (to - from);
    expect(correct(500, 1000)).toBeLessThan(correct(0, 500) - 0.2);
  });
});

describe('the optimizer on a synthetic scenario', () => {
  it('finds the known best arm of every segment within the queries the scenario allows', () => {
    const sc = { arms: 5, segments: 4, queries: 30_000, skew: 0.5, seed: 1 };
    const { queries, truth } = generateScenario(sc);
    // The bound, from the scenario alone. The premium arm answers expit(a - d) of a segment of
    // difficulty d, the value arm expit(a - g - d) (99% of it at d = 0), every other arm at least one
    // logit less, which the posterior rules out long before the two close ones are told apart. The switch
    // needs the value arm's quality shown above the floor and margin (96% of the premium arm's) with 80%
    // posterior probability: a one-sided test of the relative gap (ratio - 0.96) on answers of standard
    // deviation sqrt(q (1 - q)), q the value arm's quality, wants n = (z_0.8 sd / (gap q))^2 samples of
    // the value arm (pooled over segments: the prior borrows across them). Exploration starts evenly
    // over the four other arms at the 10% share, so the value arm gets at least 2.5% of the traffic;
    // then one cycle to decide and one canary stage (50%) before the switch is promoted, plus one more
    // cycle for the judge's 20 samples per arm in the quietest segment.
    const q = expit(PREMIUM_ABILITY - VALUE_GAP);
    const gap = q / expit(PREMIUM_ABILITY) - (REPLAY_DEFAULTS.quality_floor + REPLAY_DEFAULTS.quality_margin);
    const z80 = 0.8416;
    const n = Math.ceil(Math.pow((z80 * Math.sqrt(q * (1 - q))) / (gap * q), 2));
    const share = REPLAY_DEFAULTS.exploration_share / (sc.arms - 1);
    const bound = Math.ceil(n / share) + 3 * cycleEveryFor(sc.queries);
    expect(bound).toBeLessThan(sc.queries - 2000);

    const served: string[] = [];
    const r = runReplay('synthetic', queries, { ...REPLAY_DEFAULTS, seed: 1 }, served);
    // After the bound, the value arm serves every segment as its primary (all but the exploration share).
    for (const seg of Object.keys(truth.traffic)) {
      const after = queries
        .map((x, i) => [x, i] as const)
        .filter(([x, i]) => x.segment === seg && i >= bound);
      const byValue = after.filter(([, i]) => served[i] === truth.value).length;
      expect(byValue / after.length, seg).toBeGreaterThanOrEqual(0.85);
    }
    expect(r.quality_ratio).toBeGreaterThanOrEqual(0.95);
  });
});
