/**
 * Section "startup": for the api and each worker, with the services already up, the time from process
 * start to /readyz 200, the time from SIGTERM to exit, and the idle resident memory. Median of RUNS.
 */
import { readFileSync } from 'node:fs';
import { parseEnv } from '../infra/env';
import { freePort } from '../infra/net';
import { join } from 'node:path';
import { buildIfStale } from '../infra/build';
import { launchEnv, nodeFlags } from '../infra/launch';
import { PROJECT_ROOT } from '../infra/paths';
import { workflowBundlePath } from '../infra/temporal';
import { spawnNode } from '../tests/helpers/process';

const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 3);
const IDLE_MS = 3_000;

const ENTRYPOINTS = [
  { name: 'api', file: 'api/main.ts', portVar: 'PORT' },
  { name: 'orchestration', file: 'workers/orchestration.ts', portVar: 'HEALTH_PORT' },
  { name: 'analysis', file: 'workers/analysis.ts', portVar: 'HEALTH_PORT' },
  { name: 'integrations', file: 'workers/integrations.ts', portVar: 'HEALTH_PORT' },
  { name: 'stream', file: 'workers/stream.ts', portVar: 'HEALTH_PORT' },
] as const;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

async function once(
  file: string,
  portVar: string,
): Promise<{ readyMs: number; stopMs: number; rss: number }> {
  const env = parseEnv(process.env);
  const port = await freePort();
  const started = Date.now();
  // Measured as deployed: the bundled build in dist/, started by plain node.
  const proc = spawnBuilt(file, {
    TEMPORAL_ADDRESS: env.TEMPORAL_ADDRESS,
    DATABASE_URL: env.DATABASE_URL,
    ...(env.REDIS_URL ? { REDIS_URL: env.REDIS_URL } : {}),
    LOG_LEVEL: 'warn',
    [portVar]: String(port),
    TASK_QUEUE_ORCHESTRATION: `bench-o-${process.pid}`,
    TASK_QUEUE_ANALYSIS: `bench-a-${process.pid}`,
    TASK_QUEUE_INTEGRATIONS: `bench-i-${process.pid}`,
  });
  try {
    for (;;) {
      if (proc.child.exitCode !== null) throw new Error(`${file} exited: ${proc.output().slice(-500)}`);
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      if (Date.now() - started > 60_000) throw new Error(`${file} not ready in 60 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const readyMs = Date.now() - started;
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const rss = rssMiB(proc.child.pid!);
    const stopAt = Date.now();
    proc.child.kill('SIGTERM');
    const exit = await proc.exited;
    if (exit.code !== 0) throw new Error(`${file} exited ${exit.code} after SIGTERM`);
    return { readyMs, stopMs: exit.at - stopAt, rss };
  } finally {
    if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
  }
}

function spawnBuilt(file: string, env: Record<string, string>) {
  return spawnNode([...nodeFlags(file), join(PROJECT_ROOT, 'dist', file.replace(/\.ts$/, '.mjs'))], {
    ...launchEnv(file),
    ...env,
  });
}

export async function runStartupBench(): Promise<Record<string, number>> {
  // A build and a prebuilt workflow bundle are part of a deployment, not of a start.
  await buildIfStale();
  await workflowBundlePath();
  const figures: Record<string, number> = {};
  for (const e of ENTRYPOINTS) {
    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await once(e.file, e.portVar));
    figures[`${e.name}_ready_ms`] = median(runs.map((r) => r.readyMs));
    figures[`${e.name}_shutdown_ms`] = median(runs.map((r) => r.stopMs));
    figures[`${e.name}_idle_rss_mib`] = Math.round(median(runs.map((r) => r.rss)) * 10) / 10;
  }
  return figures;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const figures = await runStartupBench();
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(figures)}\n`);
  else console.table(figures);
}
