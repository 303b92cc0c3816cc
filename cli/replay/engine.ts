/**
 * Replay benchmark: serves recorded per-query outcomes of several models in
 * simulated time through the production intelligence code — `runIntelligence` for decisions and
 * `judgeCanary` for every canary stage — and compares the optimizer with every single model, random
 * assignment, the hindsight-best static per-segment assignment and the per-query oracle.
 *
 *   npm run replay -- --dataset FILE [--dataset FILE ...] [--seeds N] [--orders file,shuffled] [--json]
 *
 * Honesty rules: a query goes to the arm the current routing config assigns (sticky hash over the
 * query id); only that arm's outcome is revealed and enters a window aggregate; the optimizer never
 * reads an outcome of an arm that did not serve. Only the baselines printed for comparison read all.
 */
import { TargetPolicy, type Arm, type Weights } from '../../domain/model';
import type { WindowAggregate } from '../../domain/aggregate';
import { assignArm, canaryWeights } from '../../domain/routing';
import { runIntelligence } from '../../domain/intelligence/cycle';
import { judgeCanary, judgeThresholdsFor } from '../../domain/intelligence/judge';
import { buildAggregate, rollUp, type RequestOutcome } from '../../domain/intelligence/build-aggregate';
import { explorationWeights } from '../../domain/strategies/model-selection';
import { primaryArm } from '../../domain/strategies/arm-stats';
import type { DecisionDraft, SegmentRouting } from '../../domain/intelligence/types';
import { seededRng } from '../../domain/stats/distributions';

export interface Outcome {
  quality: number;
  cost_usd: number;
  latency_ms?: number;
}
export interface Query {
  id: string;
  segment: string;
  outcomes: Record<string, Outcome>;
  /**
   * Arms added to the target when this query arrives; an arm named in any query's `introduces` is not
   * part of the target before it (its outcomes before then are read by the hindsight baselines only).
   */
  introduces?: string[];
}

export interface ReplayOptions {
  seed: number;
  quality_floor: number;
  /** Queries per simulated window; a cycle runs at the end of each. 0: from the traffic (`cycleEveryFor`). */
  cycle_every: number;
  exploration_share: number;
  switch_threshold: number;
  /** Canary stages (basis points) before the decision's final weights. */
  stages: number[];
  /** Judge minimum samples per arm: the replay's segments are small (MMLU: 100-1,500 queries each). */
  min_samples: number;
  /** Marginal verdicts a stage may have before an inconclusive canary is rolled back. */
  max_extensions: number;
  /** Pseudo-observations of the hierarchical quality prior (see CycleOptions.prior_strength). */
  prior_strength: number;
  /** Planning margin over the quality floor (see CycleOptions.quality_margin). */
  quality_margin: number;
  /** Windows per segment × arm kept at full resolution; older ones are rolled up into one. */
  retained_windows: number;
  /** The arm every segment starts on; default the arm with the highest list price. */
  incumbent?: string | undefined;
}

export const REPLAY_DEFAULTS: ReplayOptions = {
  seed: 1,
  quality_floor: 0.95,
  cycle_every: 0,
  exploration_share: 0.1,
  switch_threshold: 0.8,
  stages: [5000],
  min_samples: 20,
  max_extensions: 40,
  quality_margin: 0.01,
  prior_strength: 60,
  retained_windows: 12,
};

interface Totals {
  quality: number;
  cost_usd: number;
}

export interface ReplayResult {
  dataset: string;
  queries: number;
  segments: number;
  arms: string[];
  seed: number;
  quality_floor: number;
  single: Record<string, Totals>;
  best_single: Totals & { model: string };
  random: Totals;
  static_best: Totals;
  oracle: Totals;
  optimizer: Totals;
  cost_reduction: number;
  quality_ratio: number;
  static_best_cost_reduction: number;
  oracle_cost_reduction: number;
  /** Switches of a segment's primary arm through canary stages; exploration re-spreads apply at once. */
  rollouts: {
    started: number;
    promoted: number;
    rolled_back: number;
    inconclusive: number;
    exploration_changes: number;
  };
  cycles: number;
  cycle_every: number;
  final_primary: Record<string, number>;
  /** Share of the hindsight saving captured over the whole run (cost reduction / hindsight reduction). */
  captured: number;
  /** After 10/25/50/100% of the queries: cost reduction and quality ratio so far, and the share captured. */
  learning_curve: { at: number; cost_reduction: number; quality_ratio: number; captured: number }[];
  runtime_s: number;
}

/** Points of the learning curve, as shares of the run's queries. */
export const CURVE_POINTS = [0.1, 0.25, 0.5, 1] as const;

/**
 * Queries per cycle: a live target runs its cycles on a schedule, so what one cycle sees grows with
 * traffic. The replay serves each dataset over the same horizon of about 50 cycles, so a smaller dataset
 * is a target with less traffic; at least 20 queries (a canary stage needs some of both arms) and at
 * most 250 per cycle.
 */
export function cycleEveryFor(queries: number): number {
  return Math.min(250, Math.max(20, Math.round(queries / 50)));
}

interface Rollout {
  draft: DecisionDraft;
  stages: Weights[];
  stage: number;
  stageStart: string;
  extensions: number;
}

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const mean = (xs: readonly Totals[], n: number): Totals => ({
  quality: xs.reduce((a, t) => a + t.quality, 0) / n,
  cost_usd: xs.reduce((a, t) => a + t.cost_usd, 0),
});

/** The hindsight-best static assignment: one arm per segment, cheapest total keeping the floor (Lagrangian, then a greedy pass). */
export function staticBest(queries: readonly Query[], arms: readonly string[], floorQuality: number): Totals {
  const seg = new Map<string, Record<string, Totals>>();
  for (const q of queries) {
    const s = seg.get(q.segment) ?? Object.fromEntries(arms.map((a) => [a, { quality: 0, cost_usd: 0 }]));
    for (const a of arms) {
      s[a]!.quality += q.outcomes[a]!.quality;
      s[a]!.cost_usd += q.outcomes[a]!.cost_usd;
    }
    seg.set(q.segment, s);
  }
  const need = floorQuality * queries.length;
  const choose = (lambda: number) =>
    [...seg.values()].map((s) =>
      arms.reduce((b, a) =>
        s[a]!.cost_usd - lambda * s[a]!.quality < s[b]!.cost_usd - lambda * s[b]!.quality ? a : b,
      ),
    );
  const total = (pick: string[]) => {
    const segs = [...seg.values()];
    return pick.reduce(
      (t, a, i) => ({
        quality: t.quality + segs[i]![a]!.quality,
        cost_usd: t.cost_usd + segs[i]![a]!.cost_usd,
      }),
      { quality: 0, cost_usd: 0 },
    );
  };
  let lo = 1e-12;
  let hi = 1e3;
  for (let i = 0; i < 100; i++) {
    const mid = Math.sqrt(lo * hi);
    if (total(choose(mid)).quality >= need) hi = mid;
    else lo = mid;
  }
  const pick = choose(hi);
  const segs = [...seg.values()];
  // Greedy: take any remaining cheaper switch that still keeps the floor.
  // The total is read again after every switch: two switches that each keep the floor alone may not together.
  for (let improved = true; improved;) {
    improved = false;
    for (let i = 0; i < segs.length && !improved; i++)
      for (const a of arms) {
        const s = segs[i]!;
        const cur = pick[i]!;
        const t = total(pick);
        if (s[a]!.cost_usd < s[cur]!.cost_usd && t.quality - s[cur]!.quality + s[a]!.quality >= need) {
          pick[i] = a;
          improved = true;
          break;
        }
      }
  }
  const t = total(pick);
  return { quality: t.quality / queries.length, cost_usd: t.cost_usd };
}

/** The replay's arms as a target's, and its policy: the options' floor and canary stages. */
function replayTarget(
  arms: readonly string[],
  opts: ReplayOptions,
): { armDefs: Arm[]; policy: TargetPolicy } {
  const armDefs: Arm[] = arms.map((id) => ({
    id,
    provider: 'replay',
    model: id,
    prompt_template: 'default',
    prompt_version: 1,
    params: {},
    serving: {},
  }));
  const policy = TargetPolicy.parse({
    quality_floor: opts.quality_floor,
    rollout: {
      preset: 'custom',
      stages: opts.stages.map((canary_bps) => ({ canary_bps, bake_seconds: opts.cycle_every })),
    },
  });
  return { armDefs, policy };
}

/** The comparison baselines. They read every arm's outcome, which the optimizer never does. */
function baselines(queries: readonly Query[], arms: readonly string[], opts: ReplayOptions) {
  const n = queries.length;
  const single: Record<string, Totals> = {};
  for (const a of arms)
    single[a] = mean(
      queries.map((q) => q.outcomes[a]!),
      n,
    );
  const bestModel = arms.reduce((b, a) =>
    single[a]!.quality > single[b]!.quality ||
    (single[a]!.quality === single[b]!.quality && single[a]!.cost_usd < single[b]!.cost_usd)
      ? a
      : b,
  );
  const best = single[bestModel]!;
  const rng = seededRng(opts.seed);
  const random = mean(
    queries.map((q) => q.outcomes[arms[Math.floor(rng() * arms.length)]!]!),
    n,
  );
  const oracle = mean(
    queries.map((q) =>
      arms
        .map((a) => q.outcomes[a]!)
        .reduce((b, o) =>
          o.quality > b.quality || (o.quality === b.quality && o.cost_usd < b.cost_usd) ? o : b,
        ),
    ),
    n,
  );
  const stat = staticBest(queries, arms, opts.quality_floor * best.quality);
  return { single, bestModel, best, random, oracle, stat };
}

/** How many segments each arm serves most of, at the end. */
function primaryCounts(routing: Record<string, SegmentRouting>): Record<string, number> {
  const finalPrimary: Record<string, number> = {};
  for (const r of Object.values(routing)) {
    const p = Object.entries(r.weights).sort((a, b) => b[1] - a[1])[0]![0];
    finalPrimary[p] = (finalPrimary[p] ?? 0) + 1;
  }
  return finalPrimary;
}

/** Keeps a window as retention would: the newest `retained` at full resolution, older ones rolled into one. */
function retain(
  recent: Map<string, WindowAggregate[]>,
  history: Map<string, WindowAggregate>,
  k: string,
  agg: WindowAggregate,
  retained: number,
): void {
  const list = recent.get(k) ?? [];
  list.push(agg);
  if (list.length > retained) {
    const old = list.shift()!;
    const h = history.get(k);
    history.set(k, h ? rollUp([h, old]) : old);
  }
  recent.set(k, list);
}

/** What a replay run carries from one window to the next. */
interface ReplayState {
  dataset: string;
  opts: ReplayOptions & { cycle_every: number };
  policy: TargetPolicy;
  /** The target's arms now (an arm joins when a query introduces it). */
  armDefs: Arm[];
  segments: Set<string>;
  routing: Record<string, SegmentRouting>;
  rollouts: Map<string, Rollout>;
  /**
   * What a cycle loads: recent windows at full resolution plus one roll-up of the older ones per
   * segment × arm, as a retention policy would keep them (otherwise every cycle rereads all history).
   */
  recent: Map<string, WindowAggregate[]>;
  history: Map<string, WindowAggregate>;
  /** What the canary judge reads: every window of a segment since its stage began. */
  bySegment: Map<string, WindowAggregate[]>;
  buffer: Map<string, RequestOutcome[]>;
  counts: ReplayResult['rollouts'];
  cycles: number;
}

function setWeights(st: ReplayState, segment: string, weights: Weights): void {
  st.routing[segment] = { version: (st.routing[segment]?.version ?? 0) + 1, weights };
}

/** Judge every canary stage in flight over the windows since it began: promote, extend or roll back. */
function judgeRollouts(st: ReplayState, end: string): void {
  for (const [segment, r] of [...st.rollouts]) {
    const since = (st.bySegment.get(segment) ?? []).filter((a) => a.window_start >= r.stageStart);
    const verdict = judgeCanary({
      baseline: since.filter((a) => a.arm === r.draft.baseline_arm),
      canary: since.filter((a) => a.arm === r.draft.canary_arm),
      thresholds: {
        ...judgeThresholdsFor(r.draft),
        min_samples_per_arm: st.opts.min_samples,
        critical_min_samples: st.opts.min_samples,
      },
    });
    if (
      verdict.outcome === 'fail' ||
      (verdict.outcome === 'marginal' && r.extensions >= st.opts.max_extensions)
    ) {
      setWeights(st, segment, r.draft.from_weights!);
      st.rollouts.delete(segment);
      if (verdict.outcome === 'fail') st.counts.rolled_back++;
      else st.counts.inconclusive++;
    } else if (verdict.outcome === 'marginal') r.extensions++;
    else {
      r.stage++;
      r.extensions = 0;
      r.stageStart = end;
      setWeights(st, segment, r.stages[r.stage]!);
      if (r.stage === r.stages.length - 1) {
        st.rollouts.delete(segment);
        st.counts.promoted++;
      }
    }
  }
}

/** Apply a cycle's decisions: exploration re-spreads at once, switches through their canary stages. */
function applyDecisions(st: ReplayState, decisions: readonly DecisionDraft[], end: string): void {
  for (const d of decisions) {
    if (!d.to_weights || !d.canary_arm || !d.baseline_arm || !d.from_weights) continue;
    const finalShare = d.to_weights[d.canary_arm] ?? 0;
    const stages = [
      ...st.opts.stages
        .filter((bps) => bps < finalShare && bps > (d.from_weights![d.canary_arm!] ?? 0))
        .map((bps) => canaryWeights(d.from_weights!, d.canary_arm!, bps)),
      d.to_weights,
    ];
    setWeights(st, d.segment, stages[0]!);
    const switches = primaryArm(d.from_weights) !== primaryArm(d.to_weights);
    if (switches) st.counts.started++;
    else st.counts.exploration_changes++;
    if (stages.length === 1) {
      if (switches) st.counts.promoted++;
    } else st.rollouts.set(d.segment, { draft: d, stages, stage: 0, stageStart: end, extensions: 0 });
  }
}

/** Close window `w`: aggregate what each segment × arm served, judge the canaries, run a cycle. */
function closeWindow(st: ReplayState, w: number): void {
  const every = st.opts.cycle_every;
  const start = iso(T0 + w * every * 1000);
  const end = iso(T0 + (w + 1) * every * 1000);
  for (const [k, reqs] of st.buffer) {
    const [segment, arm] = k.split('\u0000') as [string, string];
    const agg = buildAggregate(
      { target: st.dataset, segment, arm, window_start: start, window_end: end },
      reqs,
    );
    retain(st.recent, st.history, k, agg, st.opts.retained_windows);
    const seg = st.bySegment.get(segment) ?? [];
    seg.push(agg);
    st.bySegment.set(segment, seg);
  }
  st.buffer = new Map();
  judgeRollouts(st, end);
  st.cycles++;
  const out = runIntelligence({
    target: st.dataset.replace(/[^a-z0-9._-]/gi, '-').toLowerCase(),
    policy: st.policy,
    arms: st.armDefs,
    routing: st.routing,
    aggregates: [...st.history.values(), ...[...st.recent.values()].flat()],
    active_rollouts: [...st.rollouts.keys()],
    now: end,
    seed: st.opts.seed * 1_000_003 + w,
    options: {
      switch_threshold: st.opts.switch_threshold,
      exploration_share: st.opts.exploration_share,
      quality_margin: st.opts.quality_margin,
      prior_strength: st.opts.prior_strength,
      max_concurrent_rollouts: Math.max(1, st.segments.size),
    },
  });
  applyDecisions(st, out.decisions, end);
}

/** Cost reduction, quality ratio and share captured of the run so far, at each point of the curve. */
function learningCurve(
  cum: { opt: Totals; best: Totals }[],
  hindsight: number,
): ReplayResult['learning_curve'] {
  return CURVE_POINTS.map((at) => {
    const c = cum[Math.max(0, Math.ceil(at * cum.length) - 1)]!;
    const cut = c.best.cost_usd > 0 ? 1 - c.opt.cost_usd / c.best.cost_usd : 0;
    return {
      at,
      cost_reduction: cut,
      quality_ratio: c.best.quality > 0 ? c.opt.quality / c.best.quality : 1,
      captured: hindsight > 0.001 ? cut / hindsight : 1,
    };
  });
}

/** Run the replay. Reads only `queries`; deterministic for a seed. */
export function runReplay(
  dataset: string,
  queries: readonly Query[],
  options: ReplayOptions,
  served?: string[],
): ReplayResult {
  const started = performance.now();
  const opts = { ...options, cycle_every: options.cycle_every || cycleEveryFor(queries.length) };
  const arms = [...new Set(queries.flatMap((q) => Object.keys(q.outcomes)))].sort();
  const later = new Set(queries.flatMap((q) => q.introduces ?? []));
  const listPrice = (a: string) => queries.reduce((s, q) => s + (q.outcomes[a]?.cost_usd ?? 0), 0);
  // Prices are public before any query is served; quality is what has to be learned.
  const present = arms.filter((a) => !later.has(a));
  const incumbent = opts.incumbent ?? present.reduce((b, a) => (listPrice(a) > listPrice(b) ? a : b));
  const { armDefs, policy } = replayTarget(arms, opts);
  const segmentsAll = [...new Set(queries.map((q) => q.segment))].sort();
  const base = baselines(queries, arms, opts);
  const st: ReplayState = {
    dataset,
    opts,
    policy,
    armDefs: armDefs.filter((a) => !later.has(a.id)),
    segments: new Set(),
    routing: {},
    rollouts: new Map(),
    recent: new Map(),
    history: new Map(),
    bySegment: new Map(),
    buffer: new Map(),
    counts: { started: 0, promoted: 0, rolled_back: 0, inconclusive: 0, exploration_changes: 0 },
    cycles: 0,
  };
  const opt: Totals = { quality: 0, cost_usd: 0 };
  const bestSoFar: Totals = { quality: 0, cost_usd: 0 };
  const cum: { opt: Totals; best: Totals }[] = [];
  queries.forEach((q, i) => {
    if (q.introduces?.some((a) => later.delete(a))) st.armDefs = armDefs.filter((a) => !later.has(a.id));
    if (!st.routing[q.segment]) {
      st.segments.add(q.segment);
      const ids = st.armDefs.map((a) => a.id);
      setWeights(st, q.segment, explorationWeights(incumbent, ids, {}, opts.exploration_share));
    }
    const arm = assignArm(st.routing[q.segment]!.weights, q.id);
    const o = q.outcomes[arm];
    if (!o) throw new Error(`query ${q.id} has no outcome for ${arm}, which the routing assigned it`);
    served?.push(arm);
    opt.quality += o.quality;
    opt.cost_usd += o.cost_usd;
    const b = q.outcomes[base.bestModel]!;
    bestSoFar.quality += b.quality;
    bestSoFar.cost_usd += b.cost_usd;
    cum.push({ opt: { ...opt }, best: { ...bestSoFar } });
    const k = `${q.segment}\u0000${arm}`;
    const list = st.buffer.get(k) ?? [];
    list.push({ cost_usd: o.cost_usd, quality: o.quality, latency_ms: o.latency_ms });
    st.buffer.set(k, list);
    if ((i + 1) % opts.cycle_every === 0) closeWindow(st, Math.floor(i / opts.cycle_every));
  });
  return replayResult(dataset, queries.length, segmentsAll.length, arms, opts, base, opt, cum, st, started);
}

function replayResult(
  dataset: string,
  n: number,
  segments: number,
  arms: string[],
  opts: ReplayOptions & { cycle_every: number },
  base: ReturnType<typeof baselines>,
  opt: Totals,
  cum: { opt: Totals; best: Totals }[],
  st: ReplayState,
  started: number,
): ReplayResult {
  const { single, bestModel, best, random, oracle, stat } = base;
  const optimizer = { quality: opt.quality / n, cost_usd: opt.cost_usd };
  const cut = 1 - optimizer.cost_usd / best.cost_usd;
  const hindsight = 1 - stat.cost_usd / best.cost_usd;
  return {
    dataset,
    queries: n,
    segments,
    arms,
    seed: opts.seed,
    quality_floor: opts.quality_floor,
    single,
    best_single: { model: bestModel, ...best },
    random,
    static_best: stat,
    oracle,
    optimizer,
    cost_reduction: cut,
    quality_ratio: optimizer.quality / best.quality,
    static_best_cost_reduction: hindsight,
    oracle_cost_reduction: 1 - oracle.cost_usd / best.cost_usd,
    rollouts: st.counts,
    cycles: st.cycles,
    cycle_every: opts.cycle_every,
    final_primary: primaryCounts(st.routing),
    captured: hindsight > 0.001 ? cut / hindsight : 1,
    learning_curve: learningCurve(cum, hindsight),
    runtime_s: (performance.now() - started) / 1000,
  };
}

/** The result as a markdown table. */
export function formatTable(r: ReplayResult): string {
  const row = (name: string, t: Totals) =>
    `| ${name} | ${t.quality.toFixed(4)} | ${((t.quality / r.best_single.quality) * 100).toFixed(1)}% | $${t.cost_usd.toFixed(4)} | ${((1 - t.cost_usd / r.best_single.cost_usd) * 100).toFixed(1)}% |`;
  return [
    `Replay of ${r.dataset}: ${r.queries} queries, ${r.segments} segments, arms ${r.arms.join(', ')}; seed ${r.seed}, quality floor ${r.quality_floor}`,
    '',
    '| policy | mean quality | quality vs best single | total cost | cost reduction vs best single |',
    '|---|---|---|---|---|',
    row('optimizer', r.optimizer),
    ...r.arms.map((a) => row(`single: ${a}${a === r.best_single.model ? ' (best)' : ''}`, r.single[a]!)),
    row('random assignment', r.random),
    row('static best per segment (hindsight)', r.static_best),
    row('per-query oracle (hindsight)', r.oracle),
    '',
    `Optimizer: cost reduction ${(r.cost_reduction * 100).toFixed(1)}% against ${r.best_single.model}, quality ratio ${(r.quality_ratio * 100).toFixed(1)}%.`,
    `Model switches: ${r.rollouts.started} started, ${r.rollouts.promoted} promoted, ${r.rollouts.rolled_back} rolled back by the canary judge, ${r.rollouts.inconclusive} rolled back as inconclusive; ${r.rollouts.exploration_changes} exploration re-spreads; ${r.cycles} cycles; final primary arms ${Object.entries(
      r.final_primary,
    )
      .map(([a, c]) => `${a} ×${c}`)
      .join(', ')}; runtime ${r.runtime_s.toFixed(1)} s.`,
  ].join('\n');
}
