/**
 * Synthetic replay datasets with a known ground truth, for the shapes the recorded data lacks: 3 to 50
 * arms, 1 to 100 segments, skewed traffic across segments, an arm that degrades mid-run, an arm added
 * mid-run and a price change. Pure and seeded: the same scenario gives the same queries.
 *
 *   tsx cli/synthetic.ts --arms 10 --segments 20 --queries 20000 [--skew 1] [--seed 1] [--out FILE]
 *       [--degrade-at 0.5] [--new-arm-at 0.5] [--price-change-at 0.5]
 *
 * Arm k's probability of a correct answer in segment s is expit(ability_k - difficulty_s + noise_ks).
 * Arm 0 is the dearest and the most able. One "value" arm, at a tenth of its price, is nearly as able;
 * every other arm is cheaper and clearly less able (by `gap` on the logit scale at least), so the
 * cheapest arm that keeps the quality floor in every segment, the ground truth, is the value arm.
 */
import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { seededRng, sampleNormal, type Rng } from '../domain/stats/distributions';
import type { Query } from './replay/engine';

export interface Scenario {
  name: string;
  seed: number;
  arms: number;
  segments: number;
  queries: number;
  /** Zipf exponent of traffic over segments: 0 uniform, 1 the busiest segment gets ~1/H(S) of it. */
  skew: number;
  /** Logit-scale ability the other arms lack against the premium and value arms (at least). */
  gap: number;
  /** Spread (sd, logit scale) of segment difficulty and of each arm × segment deviation. */
  difficulty_sd: number;
  interaction_sd: number;
  /** From this share of the run on, the value arm loses `by` on the logit scale. */
  degrade?: { at: number; by: number } | undefined;
  /** At this share of the run, an arm as able as the premium one at `price_ratio` of its price joins. */
  new_arm?: { at: number; price_ratio: number } | undefined;
  /** From this share of the run on, the value arm's price is multiplied by `factor`. */
  price_change?: { at: number; factor: number } | undefined;
}

export interface Truth {
  premium: string;
  value: string;
  /** Each arm's probability of a correct answer per segment, before any event. */
  quality: Record<string, Record<string, number>>;
  /** Price per query of each arm before any event (USD). */
  price: Record<string, number>;
  /** The segments' traffic shares. */
  traffic: Record<string, number>;
  new_arm: string | null;
}

export const SCENARIO_DEFAULTS: Scenario = {
  name: 'synthetic',
  seed: 1,
  arms: 10,
  segments: 10,
  queries: 20_000,
  skew: 1,
  gap: 1,
  difficulty_sd: 0.5,
  interaction_sd: 0.15,
};

const expit = (x: number) => 1 / (1 + Math.exp(-x));
const PREMIUM_PRICE = 0.01;
/** The premium arm's ability (logit of its chance of a correct answer on a segment of difficulty 0). */
export const PREMIUM_ABILITY = 1.3;
/** How far below the premium arm the value arm is, in every segment (logit scale). */
export const VALUE_GAP = 0.05;

function armIds(n: number): string[] {
  return Array.from({ length: n }, (_, k) => `arm-${String(k).padStart(2, '0')}`);
}

/** Prices fall log-linearly from the premium arm to a hundredth of it; the value arm costs about a tenth. */
function prices(ids: readonly string[], value: number): Record<string, number> {
  const n = ids.length;
  return Object.fromEntries(
    ids.map((id, k) => [
      id,
      k === value ? PREMIUM_PRICE / 10 : PREMIUM_PRICE * Math.pow(0.01, n > 1 ? k / (n - 1) : 0),
    ]),
  );
}

function segmentTraffic(segments: number, skew: number): { ids: string[]; cdf: number[]; share: number[] } {
  const ids = Array.from({ length: segments }, (_, s) => `seg-${String(s).padStart(3, '0')}`);
  const w = ids.map((_, s) => 1 / Math.pow(s + 1, skew));
  const total = w.reduce((a, x) => a + x, 0);
  const share = w.map((x) => x / total);
  let acc = 0;
  const cdf = share.map((x) => (acc += x));
  return { ids, cdf, share };
}

function abilities(n: number, value: number, gap: number, rng: Rng): number[] {
  // The premium arm at 1.3 (about 79% correct on an average segment), the value arm just below it, the
  // others below by `gap` plus a random extra, so no cheaper arm keeps the floor anywhere.
  return Array.from({ length: n }, (_, k) =>
    k === 0
      ? PREMIUM_ABILITY
      : k === value
        ? PREMIUM_ABILITY - VALUE_GAP
        : 1.2 - gap - Math.abs(sampleNormal(rng)) * 0.5,
  );
}

/** Generate a scenario's queries and its ground truth. */
export function generateScenario(scenario: Partial<Scenario> = {}): { queries: Query[]; truth: Truth } {
  const sc = { ...SCENARIO_DEFAULTS, ...scenario };
  if (sc.arms < 3 || sc.arms > 50) throw new Error(`arms must be 3 to 50, not ${sc.arms}`);
  if (sc.segments < 1 || sc.segments > 100) throw new Error(`segments must be 1 to 100, not ${sc.segments}`);
  const rng = seededRng(sc.seed);
  const ids = armIds(sc.arms);
  const value = Math.max(1, Math.round(sc.arms * 0.4));
  const price = prices(ids, value);
  const ability = abilities(sc.arms, value, sc.gap, rng);
  const traffic = segmentTraffic(sc.segments, sc.skew);
  const difficulty = traffic.ids.map(() => sampleNormal(rng) * sc.difficulty_sd);
  const logit = ids.map((_, k) =>
    traffic.ids.map((_, s) => ability[k]! - difficulty[s]! + sampleNormal(rng) * sc.interaction_sd),
  );
  // The value arm follows the premium arm segment by segment (0.05 logit below it), so it keeps 95% of
  // the premium arm's quality in every segment down to 12% correct, whatever the other arms do.
  logit[value] = logit[0]!.map((x) => x - VALUE_GAP);
  const newArm = sc.new_arm ? 'arm-new' : null;
  const newLogit = traffic.ids.map((_, s) => logit[0]![s]!);
  const quality: Truth['quality'] = {};
  ids.forEach((id, k) => {
    quality[id] = Object.fromEntries(traffic.ids.map((seg, s) => [seg, expit(logit[k]![s]!)]));
  });
  if (newArm) quality[newArm] = Object.fromEntries(traffic.ids.map((seg, s) => [seg, expit(newLogit[s]!)]));
  const valueId = ids[value]!;
  const at = (share: number | undefined) => (share === undefined ? Infinity : Math.floor(share * sc.queries));
  const degradeAt = at(sc.degrade?.at);
  const newAt = at(sc.new_arm?.at);
  const priceAt = at(sc.price_change?.at);
  const queries: Query[] = [];
  for (let i = 0; i < sc.queries; i++) {
    const u = rng();
    let s = traffic.cdf.findIndex((c) => u < c);
    if (s < 0) s = sc.segments - 1;
    const outcomes: Query['outcomes'] = {};
    ids.forEach((id, k) => {
      const drop = k === value && i >= degradeAt ? sc.degrade!.by : 0;
      const p = expit(logit[k]![s]! - drop);
      const factor = k === value && i >= priceAt ? sc.price_change!.factor : 1;
      outcomes[id] = { quality: rng() < p ? 1 : 0, cost_usd: price[id]! * factor };
    });
    if (newArm)
      outcomes[newArm] = {
        quality: rng() < expit(newLogit[s]!) ? 1 : 0,
        cost_usd: PREMIUM_PRICE * sc.new_arm!.price_ratio,
      };
    queries.push({
      id: `${sc.name}-${sc.seed}-${i}`,
      segment: traffic.ids[s]!,
      outcomes,
      ...(newArm && i === newAt ? { introduces: [newArm] } : {}),
    });
  }
  if (newArm && newAt >= sc.queries) queries.at(-1)!.introduces = [newArm];
  return {
    queries,
    truth: {
      premium: ids[0]!,
      value: valueId,
      quality,
      price: { ...price, ...(newArm ? { [newArm]: PREMIUM_PRICE * sc.new_arm!.price_ratio } : {}) },
      traffic: Object.fromEntries(traffic.ids.map((seg, s) => [seg, traffic.share[s]!])),
      new_arm: newArm,
    },
  };
}

/** The suite's synthetic scenarios: many arms and segments with skewed traffic, and each mid-run event. */
export const SUITE_SCENARIOS: Record<string, Partial<Scenario>> = {
  'synthetic-many-arms': { arms: 30, segments: 50, queries: 20_000, skew: 1 },
  'synthetic-few-segments': { arms: 10, segments: 3, queries: 8_000, skew: 0.5 },
  'synthetic-degrades': { arms: 8, segments: 10, queries: 16_000, degrade: { at: 0.5, by: 1.5 } },
  'synthetic-new-arm': { arms: 6, segments: 10, queries: 16_000, new_arm: { at: 0.4, price_ratio: 0.02 } },
  'synthetic-price-change': {
    arms: 6,
    segments: 10,
    queries: 16_000,
    price_change: { at: 0.5, factor: 15 },
  },
};

function main(argv: string[]): void {
  const o = new Command()
    .name('synthetic')
    .option('--scenario <name>', `one of ${Object.keys(SUITE_SCENARIOS).join(', ')}`)
    .option('--arms <n>', 'arms, 3 to 50', String(SCENARIO_DEFAULTS.arms))
    .option('--segments <n>', 'segments, 1 to 100', String(SCENARIO_DEFAULTS.segments))
    .option('--queries <n>', 'queries', String(SCENARIO_DEFAULTS.queries))
    .option('--skew <x>', 'Zipf exponent of traffic over segments', String(SCENARIO_DEFAULTS.skew))
    .option('--seed <n>', 'seed', '1')
    .option('--degrade-at <share>', 'the value arm degrades from this share of the run on')
    .option('--new-arm-at <share>', 'a cheap arm as able as the premium one joins at this share of the run')
    .option('--price-change-at <share>', "the value arm's price rises 15× from this share of the run on")
    .option('--out <file>', 'output JSONL (default: stdout)')
    .parse(argv)
    .opts<Record<string, string | undefined>>();
  const share = (x: string | undefined) => (x === undefined ? undefined : Number(x));
  const named = o['scenario'] ? SUITE_SCENARIOS[o['scenario']] : undefined;
  if (o['scenario'] && !named) throw new Error(`unknown scenario ${o['scenario']}`);
  const { queries, truth } = generateScenario(
    named ?? {
      arms: Number(o['arms']),
      segments: Number(o['segments']),
      queries: Number(o['queries']),
      skew: Number(o['skew']),
      seed: Number(o['seed']),
      degrade: share(o['degradeAt']) === undefined ? undefined : { at: share(o['degradeAt'])!, by: 1.5 },
      new_arm:
        share(o['newArmAt']) === undefined ? undefined : { at: share(o['newArmAt'])!, price_ratio: 0.02 },
      price_change:
        share(o['priceChangeAt']) === undefined ? undefined : { at: share(o['priceChangeAt'])!, factor: 15 },
    },
  );
  const text = queries.map((q) => JSON.stringify(q)).join('\n') + '\n';
  process.stderr.write(`${queries.length} queries; premium ${truth.premium}, value arm ${truth.value}\n`);
  if (o['out']) writeFileSync(o['out'], text);
  else process.stdout.write(text);
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv);
