/**
 * Replay benchmark (`npm run replay`): recorded or synthetic per-query outcomes served in simulated
 * time through the production intelligence code (cli/replay/engine.ts), over one or more datasets,
 * seeds and query orders (cli/replay/suite.ts).
 *
 *   npm run replay -- --dataset FILE [--dataset synthetic:NAME] [--dataset routellm:mmlu:DIR]
 *       [--suite FILE] [--seeds 5] [--seed 1] [--orders file,shuffled] [--json]
 */
import { Command } from 'commander';
import { REPLAY_DEFAULTS, type ReplayOptions } from './replay/engine';
import { entryFromArg, formatSuite, loadSuite, runSuite, type Order, type SuiteEntry } from './replay/suite';

export {
  runReplay,
  staticBest,
  formatTable,
  cycleEveryFor,
  REPLAY_DEFAULTS,
  type Query,
  type Outcome,
  type ReplayOptions,
  type ReplayResult,
} from './replay/engine';

const collect = (v: string, prev: string[]) => [...prev, v];

function program(): Command {
  const d = REPLAY_DEFAULTS;
  return new Command()
    .name('replay')
    .option(
      '--dataset <file>',
      'JSONL, one query a line: {"id","segment","outcomes":{model:{quality,cost_usd,latency_ms?}}}; or synthetic:<scenario>; or routellm:<mmlu|gsm8k|mt-bench>:<dir>. Repeatable',
      collect,
      [],
    )
    .option(
      '--suite <file>',
      'JSON {"datasets": [...]}: the datasets of a suite (bench/replay-results/suite.json)',
    )
    .option('--seed <n>', 'first seed', String(d.seed))
    .option('--seeds <n>', 'number of seeds (seed, seed + 1, ...)', '1')
    .option('--orders <list>', 'query orders: file, shuffled (a seeded shuffle per seed)', 'file')
    .option('--quality-floor <x>', 'share of the best model quality to hold', String(d.quality_floor))
    .option(
      '--cycle-every <n>',
      'queries per simulated window and cycle (0: from the traffic)',
      String(d.cycle_every),
    )
    .option('--exploration <x>', 'bounded exploration share per segment', String(d.exploration_share))
    .option('--threshold <x>', 'posterior probability a switch needs', String(d.switch_threshold))
    .option('--stages <bps>', 'canary stages in basis points, comma separated', d.stages.join(','))
    .option('--min-samples <n>', 'judge minimum samples per arm', String(d.min_samples))
    .option(
      '--max-extensions <n>',
      'marginal verdicts a stage may have before it is rolled back as inconclusive',
      String(d.max_extensions),
    )
    .option('--margin <x>', 'planning margin over the quality floor', String(d.quality_margin))
    .option(
      '--prior-strength <n>',
      'pseudo-observations of the hierarchical quality prior',
      String(d.prior_strength),
    )
    .option('--incumbent <arm>', 'arm every segment starts on (default: highest list price)')
    .option('--json', 'print one JSON object as the last line');
}

function main(argv: string[]): void {
  const o = program().parse(argv).opts<{
    dataset: string[];
    suite?: string;
    seed: string;
    seeds: string;
    orders: string;
    qualityFloor: string;
    cycleEvery: string;
    exploration: string;
    threshold: string;
    stages: string;
    minSamples: string;
    maxExtensions: string;
    margin: string;
    priorStrength: string;
    incumbent?: string;
    json?: boolean;
  }>();
  const entries: SuiteEntry[] = [...(o.suite ? loadSuite(o.suite) : []), ...o.dataset.map(entryFromArg)];
  if (entries.length === 0) throw new Error('name at least one --dataset or a --suite');
  const orders = o.orders.split(',').map((x) => x.trim());
  for (const x of orders)
    if (x !== 'file' && x !== 'shuffled') throw new Error(`--orders: ${x} is neither file nor shuffled`);
  const seeds = Array.from({ length: Number(o.seeds) }, (_, i) => Number(o.seed) + i);
  const opts: ReplayOptions = {
    ...REPLAY_DEFAULTS,
    quality_floor: Number(o.qualityFloor),
    cycle_every: Number(o.cycleEvery),
    exploration_share: Number(o.exploration),
    switch_threshold: Number(o.threshold),
    stages: o.stages.split(',').map(Number),
    min_samples: Number(o.minSamples),
    max_extensions: Number(o.maxExtensions),
    quality_margin: Number(o.margin),
    prior_strength: Number(o.priorStrength),
    incumbent: o.incumbent,
  };
  const result = runSuite(entries, seeds, orders as Order[], opts, (d) =>
    process.stderr.write(
      `${d.name}: cut ${(d.cost_reduction.mean * 100).toFixed(1)}% (worst ${(d.cost_reduction.worst * 100).toFixed(1)}%), quality ${(d.quality_ratio.mean * 100).toFixed(1)}% (worst ${(d.quality_ratio.worst * 100).toFixed(1)}%), hindsight ${(d.hindsight.cost_reduction * 100).toFixed(1)}%\n`,
    ),
  );
  console.log(formatSuite(result));
  if (o.json) console.log(JSON.stringify(result));
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv);
