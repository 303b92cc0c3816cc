import { randomBytes } from 'node:crypto';
import { parseEnv } from '../../platform/env';

/**
 * One secret key for every system a test run starts, in-process or spawned. Unset, each process would
 * derive its key from its DATA_DIR, and test files that give their system a DATA_DIR of its own would
 * seal the shared rows of an integration with keys of the same id that the others cannot open.
 */
process.env.SECRETS_KEY ??= Buffer.alloc(32, 'llmopt-test-secrets').toString('base64');

/** The test run's configuration (set by infra/test.sh from the running services). */
export const testEnv = parseEnv({ ...process.env, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** A name no other test file uses: test files share one database and one Temporal namespace. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Await a condition with a deadline instead of sleeping a fixed time. */
export async function eventually<T>(
  fn: () => Promise<T | undefined | null | false>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
  throw new Error(
    `timed out waiting for ${opts.what ?? 'condition'}${last instanceof Error ? `: ${last.message}` : ''}`,
  );
}

/**
 * Holds a PostgreSQL advisory lock named `name` for the calling test file (released by the returned
 * function): for files that must change rows no unique name can isolate, such as the single settings
 * row of an integration, while vitest runs other files in parallel.
 */
export async function holdTestLock(name: string): Promise<() => Promise<void>> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: testEnv.DATABASE_URL });
  await client.connect();
  await client.query('SELECT pg_advisory_lock(hashtext($1))', [`test-lock:${name}`]);
  return async () => {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`test-lock:${name}`]);
    await client.end();
  };
}
