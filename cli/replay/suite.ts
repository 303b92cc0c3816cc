/**
 * A replay suite: several datasets, each run over seeds × query orders with one set of settings, and
 * reported per dataset and over all with the mean and the worst case (lowest cut, quality and share of
 * the hindsight saving over the runs).
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, basename } from 'node:path';
import { seededRng } from '../../domain/stats/distributions';
import { routeLlmQueries } from '../routellm';
import { generateScenario, SUITE_SCENARIOS } from '../synthetic';
import { CURVE_POINTS, runReplay, type Query, type ReplayOptions, type ReplayResult } from './engine';

/** One dataset of a suite: a replay JSONL file, a RouteLLM dataset converted on load, or a synthetic scenario. */
export interface SuiteEntry {
  name: string;
  /** Replay JSONL (relative to the suite file). */
  path?: string | undefined;
  /** A RouteLLM dataset (mmlu, gsm8k, mt-bench) converted from `dir` by cli/routellm.ts. */
  routellm?: string | undefined;
  dir?: string | undefined;
  /** A scenario of cli/synthetic.ts. */
  synthetic?: string | undefined;
  /** Whether the targets hold here (default: when the hindsight saving exceeds 10%). */
  held?: boolean | undefined;
  /** Time matters in this dataset (events mid-run), so it is replayed in its own order only. */
  ordered?: boolean | undefined;
}

export type Order = 'file' | 'shuffled';

export interface RunSummary {
  seed: number;
  order: Order;
  cost_reduction: number;
  quality_ratio: number;
  captured: number;
  rollouts: ReplayResult['rollouts'];
  cycles: number;
  final_primary: Record<string, number>;
  learning_curve: ReplayResult['learning_curve'];
  runtime_s: number;
}

interface Stat {
  mean: number;
  worst: number;
}

export interface DatasetSummary {
  name: string;
  queries: number;
  segments: number;
  arms: number;
  cycle_every: number;
  best_single: string;
  /** Hindsight-best fixed arm per segment at the floor: cost reduction and quality ratio. */
  hindsight: { cost_reduction: number; quality_ratio: number };
  oracle: { cost_reduction: number; quality_ratio: number };
  cost_reduction: Stat;
  quality_ratio: Stat;
  captured: Stat;
  /** Share of the hindsight saving reached after 10/25/50/100% of the queries: mean and worst. */
  learning_curve: { at: number; mean: number; worst: number }[];
  rollouts: { started: number; promoted: number; rolled_back: number; inconclusive: number };
  held: boolean;
  /** ≥ 70% of the hindsight saving at ≥ 95% quality in the worst run (held datasets only). */
  target_met: boolean | null;
  runs: RunSummary[];
}

export interface SuiteResult {
  settings: Omit<ReplayOptions, 'seed'>;
  seeds: number[];
  orders: Order[];
  datasets: DatasetSummary[];
  overall: {
    held: string[];
    captured_mean: number;
    captured_worst: number;
    quality_worst: number;
    targets_met: number;
  };
  runtime_s: number;
}

/** A `--dataset` argument: a JSONL path, `synthetic:<scenario>` or `routellm:<mmlu|gsm8k|mt-bench>:<dir>`. */
export function entryFromArg(arg: string): SuiteEntry {
  if (arg.startsWith('synthetic:')) return { name: arg.slice(10), synthetic: arg.slice(10), ordered: true };
  const m = /^routellm:([^:]+):(.+)$/.exec(arg);
  if (m) return { name: m[1]!, routellm: m[1]!, dir: m[2]! };
  return { name: basename(arg).replace(/\.jsonl$/, ''), path: arg };
}

/** A suite file: `{"datasets": [SuiteEntry, ...]}`, paths relative to the file. */
export function loadSuite(file: string): SuiteEntry[] {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { datasets?: SuiteEntry[] };
  if (!Array.isArray(doc.datasets) || doc.datasets.length === 0)
    throw new Error(`${file}: expected {"datasets": [...]} with at least one entry`);
  const at = (p: string | undefined) => (p === undefined || isAbsolute(p) ? p : join(dirname(file), p));
  return doc.datasets.map((e) => ({ ...e, path: at(e.path), dir: at(e.dir) }));
}

export function loadQueries(e: SuiteEntry): Query[] {
  if (e.synthetic) {
    const sc = SUITE_SCENARIOS[e.synthetic];
    if (!sc) throw new Error(`unknown synthetic scenario ${e.synthetic}`);
    return generateScenario({ ...sc, name: e.synthetic }).queries;
  }
  if (e.routellm) {
    if (!e.dir) throw new Error(`${e.name}: a RouteLLM dataset needs "dir"`);
    return routeLlmQueries(e.routellm, e.dir);
  }
  if (!e.path) throw new Error(`${e.name}: needs "path", "routellm" or "synthetic"`);
  return readFileSync(e.path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Query);
}

function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  const rng = seededRng(seed * 7919 + 17);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const meanOf = (xs: readonly number[]) => xs.reduce((a, x) => a + x, 0) / Math.max(1, xs.length);
const stat = (xs: readonly number[]): Stat => ({ mean: meanOf(xs), worst: Math.min(...xs) });

/** Run one dataset over every seed × order. */
export function runDataset(
  e: SuiteEntry,
  queries: readonly Query[],
  seeds: readonly number[],
  orders: readonly Order[],
  opts: ReplayOptions,
): DatasetSummary {
  const results: { r: ReplayResult; order: Order }[] = [];
  for (const order of e.ordered ? (['file'] as Order[]) : orders)
    for (const seed of seeds) {
      const qs = order === 'file' ? queries : shuffled(queries, seed);
      results.push({ r: runReplay(e.name, qs, { ...opts, seed }), order });
    }
  const first = results[0]!.r;
  const runs: RunSummary[] = results.map(({ r, order }) => ({
    seed: r.seed,
    order,
    cost_reduction: r.cost_reduction,
    quality_ratio: r.quality_ratio,
    captured: r.captured,
    rollouts: r.rollouts,
    cycles: r.cycles,
    final_primary: r.final_primary,
    learning_curve: r.learning_curve,
    runtime_s: r.runtime_s,
  }));
  const held = e.held ?? first.static_best_cost_reduction > 0.1;
  const cut = stat(runs.map((r) => r.cost_reduction));
  const quality = stat(runs.map((r) => r.quality_ratio));
  const captured = stat(runs.map((r) => r.captured));
  return {
    name: e.name,
    queries: first.queries,
    segments: first.segments,
    arms: first.arms.length,
    cycle_every: first.cycle_every,
    best_single: first.best_single.model,
    hindsight: {
      cost_reduction: first.static_best_cost_reduction,
      quality_ratio: first.static_best.quality / first.best_single.quality,
    },
    oracle: {
      cost_reduction: first.oracle_cost_reduction,
      quality_ratio: first.oracle.quality / first.best_single.quality,
    },
    cost_reduction: cut,
    quality_ratio: quality,
    captured,
    learning_curve: CURVE_POINTS.map((at, i) => ({
      at,
      ...stat(runs.map((r) => r.learning_curve[i]!.captured)),
    })),
    rollouts: {
      started: meanOf(runs.map((r) => r.rollouts.started)),
      promoted: meanOf(runs.map((r) => r.rollouts.promoted)),
      rolled_back: meanOf(runs.map((r) => r.rollouts.rolled_back)),
      inconclusive: meanOf(runs.map((r) => r.rollouts.inconclusive)),
    },
    held,
    target_met: held ? captured.worst >= 0.7 && quality.worst >= 0.95 : null,
    runs,
  };
}

/** Run a suite. Deterministic for its seeds. */
export function runSuite(
  entries: readonly SuiteEntry[],
  seeds: readonly number[],
  orders: readonly Order[],
  opts: ReplayOptions,
  progress?: (d: DatasetSummary) => void,
): SuiteResult {
  const started = performance.now();
  const datasets = entries.map((e) => {
    const d = runDataset(e, loadQueries(e), seeds, orders, opts);
    progress?.(d);
    return d;
  });
  const held = datasets.filter((d) => d.held);
  const { seed: _seed, ...settings } = opts;
  return {
    settings,
    seeds: [...seeds],
    orders: [...orders],
    datasets,
    overall: {
      held: held.map((d) => d.name),
      captured_mean: meanOf(held.map((d) => d.captured.mean)),
      captured_worst: Math.min(...held.map((d) => d.captured.worst)),
      quality_worst: Math.min(...datasets.map((d) => d.quality_ratio.worst)),
      targets_met: held.filter((d) => d.target_met).length,
    },
    runtime_s: (performance.now() - started) / 1000,
  };
}

const pc = (x: number) => `${(x * 100).toFixed(1)}%`;

/** The suite as a markdown table, one row per dataset, then the overall line. */
export function formatSuite(s: SuiteResult): string {
  const runs = `${s.seeds.length} seed(s) × orders ${s.orders.join(', ')}`;
  const rows = s.datasets.map((d) =>
    [
      d.name,
      `${d.arms} × ${d.segments}, ${d.queries.toLocaleString('en-US')}`,
      `${pc(d.hindsight.cost_reduction)} at ${pc(d.hindsight.quality_ratio)}`,
      `${pc(d.oracle.cost_reduction)} at ${pc(d.oracle.quality_ratio)}`,
      `${pc(d.cost_reduction.mean)} / ${pc(d.cost_reduction.worst)}`,
      `${pc(d.quality_ratio.mean)} / ${pc(d.quality_ratio.worst)}`,
      d.held ? `${pc(d.captured.mean)} / ${pc(d.captured.worst)}` : `(${pc(d.captured.mean)})`,
      d.learning_curve.map((c) => pc(c.mean)).join(' · '),
      `${d.rollouts.started.toFixed(1)} / ${d.rollouts.promoted.toFixed(1)} / ${d.rollouts.rolled_back.toFixed(1)}`,
      d.target_met === null ? 'not held' : d.target_met ? 'met' : 'missed',
    ].join(' | '),
  );
  return [
    `Replay suite: ${runs}; quality floor ${s.settings.quality_floor}; ${s.runtime_s.toFixed(1)} s`,
    '',
    '| dataset | arms × segments, queries | hindsight per segment: cut at quality | per-query oracle | our cut mean / worst | quality mean / worst | share of hindsight captured mean / worst | captured after 10 · 25 · 50 · 100% (mean) | rollouts started / promoted / rolled back (mean per run) | target |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r} |`),
    '',
    `Over the ${s.overall.held.length} held datasets: share of the hindsight saving captured ${pc(s.overall.captured_mean)} on average, ${pc(s.overall.captured_worst)} in the worst run; worst quality ratio ${pc(s.overall.quality_worst)}; target met on ${s.overall.targets_met} of ${s.overall.held.length}.`,
  ].join('\n');
}
