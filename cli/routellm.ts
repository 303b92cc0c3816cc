/**
 * Converts the RouteLLM evaluation outcomes (lm-sys/RouteLLM's published MMLU, GSM8K and MT-Bench responses,
 * read from `--dir`) into the replay's JSONL:
 * one query a line with each model's quality, cost and (absent here) latency.
 *
 *   tsx cli/routellm.ts --dataset mmlu|gsm8k|mt-bench --dir DIR [--out FILE] [--seed N]
 *       [--price model=input:output ...] [--mmlu-output-tokens 5] [--no-shuffle]
 *
 * Token counts are not in the data, so they are estimated at 4 characters per token (OpenAI's rule of
 * thumb, also the dataset's): input from the prompt (for MT-Bench turn 2, the whole conversation so far),
 * output from the model's own answer text where the data has it (GSM8K, MT-Bench) and a fixed count for
 * MMLU, whose answer is one letter. Prices (USD per million tokens) are a parameter and are printed.
 * The source files are grouped by subject; queries are shuffled with a seed because live traffic
 * interleaves task types, and a replay in file order would show each segment only once, in one block.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { seededRng } from '../domain/stats/distributions';

const MODELS = {
  'mistralai/Mixtral-8x7B-Instruct-v0.1': 'mixtral-8x7b-instruct',
  'gpt-4-1106-preview': 'gpt-4-1106-preview',
} as const;
type SourceModel = keyof typeof MODELS;

/** List prices at the time of the runs, USD per million tokens, as the dataset states them. */
const DEFAULT_PRICES: Record<string, { input: number; output: number }> = {
  'gpt-4-1106-preview': { input: 10, output: 30 },
  'mixtral-8x7b-instruct': { input: 0.6, output: 0.6 },
};

export interface ReplayQuery {
  id: string;
  segment: string;
  outcomes: Record<
    string,
    { quality: number; cost_usd: number; latency_ms?: number; input_tokens: number; output_tokens: number }
  >;
}

const tokens = (text: string) => Math.max(1, Math.ceil(text.length / 4));

/** Minimal RFC 4180 CSV parser: quoted fields may hold commas, quotes ("") and newlines. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => r.length > 1 || r[0] !== '');
}

function csvRecords(path: string): Record<string, string>[] {
  const [header, ...rows] = parseCsv(readFileSync(path, 'utf8'));
  return rows.map((r) => Object.fromEntries(header!.map((h, i) => [h, r[i] ?? ''])));
}

type Prices = typeof DEFAULT_PRICES;
const cost = (prices: Prices, arm: string, inTok: number, outTok: number) => {
  const p = prices[arm];
  if (!p) throw new Error(`no price for ${arm}; pass --price ${arm}=input:output`);
  return (inTok * p.input + outTok * p.output) / 1e6;
};

function mmlu(dir: string, prices: Prices, outputTokens: number): ReplayQuery[] {
  const out: ReplayQuery[] = [];
  for (const file of readdirSync(join(dir, 'mmlu'))
    .filter((f) => f.endsWith('.csv'))
    .sort()) {
    const subject = file.replace(/^mmlu_/, '').replace(/\.csv$/, '');
    csvRecords(join(dir, 'mmlu', file)).forEach((r, i) => {
      const inTok = tokens(r['prompt'] ?? '');
      const outcomes: ReplayQuery['outcomes'] = {};
      for (const [src, arm] of Object.entries(MODELS))
        outcomes[arm] = {
          quality: r[src] === 'True' ? 1 : 0,
          cost_usd: cost(prices, arm, inTok, outputTokens),
          input_tokens: inTok,
          output_tokens: outputTokens,
        };
      out.push({ id: `mmlu-${subject}-${i}`, segment: `mmlu/${subject}`, outcomes });
    });
  }
  return out;
}

function gsm8k(dir: string, prices: Prices): ReplayQuery[] {
  return csvRecords(join(dir, 'gsm8k_responses.csv')).map((r, i) => {
    const inTok = tokens(r['prompt'] ?? '');
    const outcomes: ReplayQuery['outcomes'] = {};
    for (const [src, arm] of Object.entries(MODELS)) {
      const outTok = tokens(r[`${src}_response`] ?? '');
      outcomes[arm] = {
        quality: r[src] === 'True' ? 1 : 0,
        cost_usd: cost(prices, arm, inTok, outTok),
        input_tokens: inTok,
        output_tokens: outTok,
      };
    }
    return { id: `gsm8k-${i}`, segment: 'gsm8k', outcomes };
  });
}

interface Judgement {
  question_id: number;
  model: string;
  score: number;
  turn: number;
  user_prompt: string;
}

/** The model's answer inside a judge prompt (single-answer format for turn 1, conversation for turn 2). */
function answerOf(j: Judgement): string {
  if (j.turn === 1) {
    const m = /\[The Start of Assistant's Answer\]([\s\S]*?)\[The End of Assistant's Answer\]/.exec(
      j.user_prompt,
    );
    return m?.[1] ?? '';
  }
  const parts = j.user_prompt.split('### Assistant A:');
  return (parts.at(-1) ?? '').split("<|The End of Assistant A's Conversation")[0] ?? '';
}

function mtBench(dir: string, prices: Prices): ReplayQuery[] {
  const questions = new Map<number, { category: string; turns: string[] }>();
  for (const line of readFileSync(join(dir, 'mt_bench_questions.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)) {
    const q = JSON.parse(line) as { question_id: number; category: string; turns: string[] };
    questions.set(q.question_id, q);
  }
  const judgements = readFileSync(join(dir, 'mt_bench_judgements.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Judgement);
  const find = (qid: number, model: string, turn: number) =>
    judgements.find((j) => j.question_id === qid && j.model === model && j.turn === turn);
  const out: ReplayQuery[] = [];
  for (const [qid, q] of [...questions].sort((a, b) => a[0] - b[0])) {
    for (const turn of [1, 2]) {
      const outcomes: ReplayQuery['outcomes'] = {};
      for (const [src, arm] of Object.entries(MODELS) as [SourceModel, string][]) {
        const j = find(qid, src, turn);
        if (!j) continue;
        const prior = turn === 2 ? (q.turns[0] ?? '') + answerOf(find(qid, src, 1) ?? j) : '';
        const inTok = tokens(prior + (q.turns[turn - 1] ?? ''));
        const outTok = tokens(answerOf(j));
        outcomes[arm] = {
          quality: j.score / 10,
          cost_usd: cost(prices, arm, inTok, outTok),
          input_tokens: inTok,
          output_tokens: outTok,
        };
      }
      if (Object.keys(outcomes).length === Object.keys(MODELS).length)
        out.push({ id: `mt-bench-${qid}-t${turn}`, segment: `mt-bench/${q.category}`, outcomes });
    }
  }
  return out;
}

function shuffle<T>(xs: T[], seed: number): T[] {
  const rng = seededRng(seed);
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

/** One RouteLLM dataset as replay queries, shuffled with `seed` unless it is null. */
export function routeLlmQueries(
  dataset: string,
  dir: string,
  opts: { prices?: Prices; mmluOutputTokens?: number; seed?: number | null } = {},
): ReplayQuery[] {
  const prices = opts.prices ?? DEFAULT_PRICES;
  const queries =
    dataset === 'mmlu'
      ? mmlu(dir, prices, opts.mmluOutputTokens ?? 5)
      : dataset === 'gsm8k'
        ? gsm8k(dir, prices)
        : dataset === 'mt-bench'
          ? mtBench(dir, prices)
          : null;
  if (!queries) throw new Error(`unknown RouteLLM dataset ${dataset}; expected mmlu, gsm8k or mt-bench`);
  const seed = opts.seed === undefined ? 1 : opts.seed;
  return seed === null ? queries : shuffle(queries, seed);
}

function main(argv: string[]): void {
  const program = new Command()
    .name('routellm')
    .requiredOption('--dataset <name>', 'mmlu | gsm8k | mt-bench')
    .requiredOption('--dir <dir>', 'RouteLLM data directory (its routellm/evals/ files, unchanged)')
    .option('--out <file>', 'output JSONL (default: stdout)')
    .option('--seed <n>', 'shuffle seed', '1')
    .option('--no-shuffle', 'keep the source order')
    .option('--price <model=in:out...>', 'USD per million tokens, e.g. gpt-4-1106-preview=10:30')
    .option('--mmlu-output-tokens <n>', 'output tokens per MMLU answer (one letter plus framing)', '5')
    .parse(argv);
  const o = program.opts<{
    dataset: string;
    dir: string;
    out?: string;
    seed: string;
    shuffle: boolean;
    price?: string[];
    mmluOutputTokens: string;
  }>();
  const prices: Prices = structuredClone(DEFAULT_PRICES);
  for (const p of o.price ?? []) {
    const m = /^(.+)=([\d.]+):([\d.]+)$/.exec(p);
    if (!m) throw new Error(`bad --price ${p}; expected model=input:output`);
    prices[m[1]!] = { input: Number(m[2]), output: Number(m[3]) };
  }
  const ordered = routeLlmQueries(o.dataset, o.dir, {
    prices,
    mmluOutputTokens: Number(o.mmluOutputTokens),
    seed: o.shuffle ? Number(o.seed) : null,
  });
  const text = ordered.map((q) => JSON.stringify(q)).join('\n') + '\n';
  process.stderr.write(
    `${o.dataset}: ${ordered.length} queries, ${new Set(ordered.map((q) => q.segment)).size} segments; tokens estimated at 4 characters each${o.dataset === 'mmlu' ? `, ${o.mmluOutputTokens} output tokens per answer` : ''}; prices USD per million tokens (input/output): ${Object.entries(
      prices,
    )
      .map(([m, p]) => `${m} ${p.input}/${p.output}`)
      .join(', ')}\n`,
  );
  if (o.out) writeFileSync(o.out, text);
  else process.stdout.write(text);
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv);
