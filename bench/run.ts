/**
 * `npm run bench -- <section> [--json]` runs one section, `npm run bench` all of them. Figures print as a
 * table with the machine they came from; with --json the last line printed is one JSON object.
 */
import { cpus, totalmem } from 'node:os';

type Figures = Record<string, number | string>;

const SECTIONS: Record<string, () => Promise<Figures>> = {
  startup: async () => (await import('./startup')).runStartupBench(),
  ingest: async () => (await import('./ingest')).runIngestBench(),
  decide: async () => (await import('./decide')).runDecideBench(),
  orchestrate: async () => (await import('./orchestrate')).runOrchestrateBench(),
  api: async () => (await import('./api')).runApiBench(),
  notify: async () => (await import('./notify')).runNotifyBench(),
  faults: async () => (await import('./faults')).runFaultsBench(),
  gateway: async () => (await import('./gateway')).runGatewayBench(),
};

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  return `${cpus().length} × ${cpu.trim()}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
}

const args = process.argv.slice(2);
const json = args.includes('--json');
const wanted = args.filter((a) => !a.startsWith('--'));
for (const w of wanted) {
  if (!SECTIONS[w]) {
    process.stderr.write(`unknown section "${w}"; sections: ${Object.keys(SECTIONS).join(', ')}\n`);
    process.exit(2);
  }
}
const names = wanted.length > 0 ? wanted : Object.keys(SECTIONS);
const results: Record<string, Figures> = {};
for (const name of names) {
  process.stderr.write(`bench ${name}: running on ${machine()}\n`);
  try {
    results[name] = await SECTIONS[name]!();
  } catch (err) {
    results[name] = { error: err instanceof Error ? err.message : String(err) };
  }
  process.stdout.write(`\n## ${name}\n`);
  for (const [k, v] of Object.entries(results[name])) process.stdout.write(`  ${k.padEnd(44)} ${v}\n`);
}
const out =
  names.length === 1
    ? { section: names[0], machine: machine(), ...results[names[0]!] }
    : { machine: machine(), ...results };
if (json) process.stdout.write(`${JSON.stringify(out)}\n`);
process.exit(Object.values(results).some((r) => 'error' in r) ? 1 : 0);
