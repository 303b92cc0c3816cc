/** Spawning the project's real process entrypoints for tests that need signals and exit codes. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Spawned {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/**
 * A TypeScript entrypoint run from source through tsx, with the test run's secret key (tests/helpers/env.ts)
 * unless `env` names one: a spawned process must open what the test files' systems sealed.
 */
export function spawnEntrypoint(file: string, env: Record<string, string | undefined>): Spawned {
  const secrets = process.env.SECRETS_KEY ? { SECRETS_KEY: process.env.SECRETS_KEY } : {};
  return spawnNode(['--import', 'tsx', file], { ...secrets, ...env });
}

/** Node with these arguments, a minimal environment, and its output captured. */
export function spawnNode(args: string[], env: Record<string, string | undefined>): Spawned {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  return { child, output: () => out, exited };
}
