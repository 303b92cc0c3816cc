/** llmopt run as a user runs it: `node cli/llmopt/bin/llmopt.mjs …`, a child process with its own environment. */
import { spawn } from 'node:child_process';
import { ROOT } from '../helpers/process';

export const BIN = `${ROOT}cli/llmopt/bin/llmopt.mjs`;

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (for `-o json`). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read whatever JSON a command prints
  json(): any;
}

/**
 * Runs llmopt with `args` and a minimal environment (no LLMOPT_* of the caller's shell, and an admin key
 * file that does not exist unless `env` names one), optionally feeding `input` on stdin.
 */
export function runCli(
  args: string[],
  env: Record<string, string | undefined> = {},
  input?: string,
): Promise<CliRun> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LLMOPT_ADMIN_KEY_FILE: '/nonexistent/admin-api-key',
      ...env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(input ?? '');
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) =>
      resolve({ code, stdout, stderr, json: () => JSON.parse(stdout) as unknown }),
    );
  });
}
