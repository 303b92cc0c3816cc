/**
 * `npm start` as infra/start.sh runs it (the bundled supervisor, nothing configured), on free ports and
 * with its data and logs in a folder of the caller's, so it meets neither a developer's own `npm start`
 * nor the shared test services. Used by tests/process/default-path.test.ts and the startup bench.
 */
import { chmodSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../../platform/net';
import { ROOT, spawnNode, type Spawned } from './process';

export interface NpmStart {
  supervisor: Spawned;
  ports: {
    PORT: number;
    GRPC_PORT: number;
    EMBEDDED_POSTGRES_PORT: number;
    EMBEDDED_TEMPORAL_PORT: number;
    TEMPORAL_UI_PORT: number;
    HEALTH_PORT_BASE: number;
  };
  /** Its DATA_DIR; the logs are in `<root>/logs`. */
  dataDir: string;
  /** The line the supervisor prints last once everything runs. */
  readyLine: string;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** The first of `n` consecutive free ports (the supervisor's health ports are a run). */
async function freeRun(n: number): Promise<number> {
  for (;;) {
    const first = await freePort();
    if (first + n > 65535) continue;
    let all = true;
    for (let p = first + 1; p < first + n && all; p++) all = await portFree(p);
    if (all) return first;
  }
}

/** Starts the supervisor with its data in `<root>/data` (a folder made by the caller). */
export async function spawnNpmStart(root: string): Promise<NpmStart> {
  // The embedded PostgreSQL runs as an unprivileged user when we are root; it must reach its folder.
  chmodSync(root, 0o711);
  const ports = {
    PORT: await freePort(),
    GRPC_PORT: await freePort(),
    EMBEDDED_POSTGRES_PORT: await freePort(),
    EMBEDDED_TEMPORAL_PORT: await freePort(),
    TEMPORAL_UI_PORT: await freePort(),
    HEALTH_PORT_BASE: await freeRun(4),
  };
  const dataDir = join(root, 'data');
  const supervisor = spawnNode(['--enable-source-maps', join(ROOT, 'dist', 'infra', 'supervisor.mjs')], {
    ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
    DATA_DIR: dataDir,
  });
  return { supervisor, ports, dataDir, readyLine: 'Ctrl-C stops everything this started.' };
}

/**
 * Pids of what an `npm start` runs: descendants of the supervisor, and anything naming its folder (the
 * servers, in process groups of their own, outlive a supervisor killed with SIGKILL).
 */
export function npmStartProcesses(start: NpmStart): number[] {
  const parents = new Map<number, number>();
  const named: number[] = [];
  const root = join(start.dataDir, '..');
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      parents.set(Number(entry), Number(/PPid:\s+(\d+)/.exec(status)?.[1]));
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(root)) named.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  const found = new Set(named);
  const supervisorPid = start.supervisor.child.pid;
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, parent] of parents)
      if (!found.has(pid) && (parent === supervisorPid || found.has(parent))) {
        found.add(pid);
        grew = true;
      }
  }
  return [...found];
}
