/**
 * Schema migrations with node-pg-migrate over plain SQL files in infra/db/migrations, applied on start.
 * A PostgreSQL advisory lock (taken by node-pg-migrate) makes concurrent starts of several processes safe:
 * a process that finds another migrating waits for it, then finds nothing left to apply.
 */
import { join } from 'node:path';
import { runner } from 'node-pg-migrate';
import { PROJECT_ROOT } from '../paths';
import type { Logger } from '../logger';

export const MIGRATIONS_DIR = join(PROJECT_ROOT, 'infra', 'db', 'migrations');

export async function migrate(databaseUrl: string, logger?: Logger): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    count: Infinity,
    checkOrder: true,
    // The default, 'fail', crashes every process but the first when several start at once.
    advisoryLockMode: 'wait',
    verbose: false,
    log: (msg: string) => logger?.debug({ msg }, 'migration'),
  });
  const names = applied.map((m) => m.name);
  if (names.length > 0) logger?.info({ migrations: names }, 'applied schema migrations');
  return names;
}
