/**
 * Section "startup": for the api and each worker, with the services already up, the time from process
 * start to /readyz 200, the time from SIGTERM to exit, and the idle resident memory. Median of RUNS.
 * Then `npm start` with nothing configured: the embedded PostgreSQL alone (first start with initdb, a
 * later start, idle memory), and the whole supervisor (time to its address block on a first and a later
 * start, idle memory of everything it runs, Ctrl-C to exit).
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parseEnv } from '../platform/env';
import { freePort } from '../platform/net';
import { join } from 'node:path';
import { buildIfStale } from '../infra/build';
import { launchEnv, nodeFlags } from '../infra/launch';
import { PROJECT_ROOT } from '../platform/paths';
import { workflowBundlePath } from '../platform/temporal';
import { startEmbeddedPostgres } from '../infra/embedded-postgres';
import { npmStartProcesses, spawnNpmStart } from '../tests/helpers/npm-start';
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

/** Proportional set size: shared pages (PostgreSQL's shared buffers) counted once across processes. */
function pssMiB(pid: number): number {
  try {
    return Number(/Pss:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

const round1 = (x: number) => Math.round(x * 10) / 10;

async function embeddedPostgresFigures(): Promise<Record<string, number>> {
  const root = mkdtempSync(join(tmpdir(), 'bench-embedded-pg-'));
  try {
    const first = await embeddedPostgresOnce(root);
    const later = await embeddedPostgresOnce(root);
    return {
      embedded_pg_first_start_ms: first.startMs,
      embedded_pg_start_ms: later.startMs,
      embedded_pg_idle_pss_mib: round1(later.pss),
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** The embedded PostgreSQL alone, started and stopped in this process. */
async function embeddedPostgresOnce(root: string): Promise<{ startMs: number; pss: number }> {
  // Reachable by the unprivileged user the server runs as when the bench runs as root.
  chmodSync(root, 0o711);
  const startedAt = Date.now();
  const pg = await startEmbeddedPostgres({ dataDir: join(root, 'postgres'), port: await freePort() });
  const startMs = Date.now() - startedAt;
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const children = readFileSync(`/proc/${pg.pid}/task/${pg.pid}/children`, 'utf8').trim().split(/\s+/);
  const pss = [pg.pid, ...children.filter(Boolean).map(Number)].reduce((sum, pid) => sum + pssMiB(pid), 0);
  await pg.stop();
  return { startMs, pss };
}

const NPM_START_IDLE_MS = 10_000;

/** One `npm start` in `root`: time to the address block, idle memory by kind, Ctrl-C to exit. */
async function npmStartOnce(root: string) {
  const start = await spawnNpmStart(root);
  const startedAt = Date.now();
  const { supervisor } = start;
  try {
    while (!supervisor.output().includes(start.readyLine)) {
      if (supervisor.child.exitCode !== null) throw new Error(`npm start exited: ${supervisor.output()}`);
      if (Date.now() - startedAt > 240_000) throw new Error('npm start not running in 240 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    const readyMs = Date.now() - startedAt;
    await new Promise((r) => setTimeout(r, NPM_START_IDLE_MS));
    const pss = { postgres: 0, temporal: 0, node: pssMiB(supervisor.child.pid!) };
    for (const pid of npmStartProcesses(start)) {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const kind = /postgres/.test(cmd) ? 'postgres' : /temporal/.test(cmd) ? 'temporal' : 'node';
      pss[kind] += pssMiB(pid);
    }
    const stopAt = Date.now();
    supervisor.child.kill('SIGINT');
    const exit = await supervisor.exited;
    if (exit.code !== 0) throw new Error(`npm start exited ${exit.code} after SIGINT`);
    return { readyMs, stopMs: exit.at - stopAt, pss };
  } finally {
    if (supervisor.child.exitCode === null) supervisor.child.kill('SIGKILL');
  }
}

async function npmStartFigures(): Promise<Record<string, number>> {
  const root = mkdtempSync(join(tmpdir(), 'bench-npm-start-'));
  try {
    const first = await npmStartOnce(root);
    const later = await npmStartOnce(root);
    return {
      npm_start_first_running_ms: first.readyMs,
      npm_start_running_ms: later.readyMs,
      npm_start_ctrl_c_ms: later.stopMs,
      npm_start_idle_pss_mib_total: round1(later.pss.node + later.pss.postgres + later.pss.temporal),
      npm_start_idle_pss_mib_node: round1(later.pss.node),
      npm_start_idle_pss_mib_postgres: round1(later.pss.postgres),
      npm_start_idle_pss_mib_temporal: round1(later.pss.temporal),
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
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
  return { ...figures, ...(await embeddedPostgresFigures()), ...(await npmStartFigures()) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const figures = await runStartupBench();
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(figures)}\n`);
  else console.table(figures);
}
