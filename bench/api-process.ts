/**
 * The API as a bench runs it: its own process (`api/main.ts` through tsx), production mode, quiet logs,
 * a rate limit one bench identity cannot reach (so the limiter's cost is in the figure but never a 429),
 * and a throwaway secrets key (production refuses to start without one).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export function spawnApi(opts: {
  databaseUrl: string;
  port: number;
  workers: number;
  /** Node flags before the entry point, e.g. `--cpu-prof`. */
  nodeArgs?: string[];
}): ChildProcess {
  return spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', 'api/main.ts'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      NODE_ENV: 'production',
      SECRETS_KEY: process.env.SECRETS_KEY ?? randomBytes(32).toString('base64'),
      DATABASE_URL: opts.databaseUrl,
      PORT: String(opts.port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      API_RATE_LIMIT_PER_MINUTE: '60000000',
      API_WORKERS: String(opts.workers),
    },
  });
}

/** Resolves once `/readyz` answers 200; throws when the process exits first or after 60 s. */
export async function waitReady(base: string, api: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (api.exitCode !== null) throw new Error(`API exited with ${api.exitCode} before it was ready`);
    if ((await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('API not ready within 60 s');
}
