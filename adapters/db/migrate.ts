/**
 * Schema migrations with node-pg-migrate over plain SQL files in adapters/db/migrations, applied on start.
 * A PostgreSQL advisory lock (taken by node-pg-migrate) makes concurrent starts of several processes safe:
 * a process that finds another migrating waits for it, then finds nothing left to apply.
 *
 * Every process migrates on start, and almost always the schema is already current: one read of the
 * migrations table tells, and only a database that lacks a migration on disk loads node-pg-migrate
 * (a quarter of a second of CPU) and takes the lock.
 */
import { readdirSync } from 'node:fs';
import { join, parse } from 'node:path';
import pg from 'pg';
import { PROJECT_ROOT } from '../../platform/paths';
import type { Logger } from '../../platform/logger';

export const MIGRATIONS_DIR = join(PROJECT_ROOT, 'adapters', 'db', 'migrations');
const MIGRATIONS_TABLE = 'pgmigrations';
const UNDEFINED_TABLE = '42P01';

/**
 * True when the database has run exactly the migrations on disk, in file order: then node-pg-migrate
 * would apply nothing. Anything else (a fresh database, a new file, a foreign row) is left to it.
 */
export async function schemaIsCurrent(databaseUrl: string): Promise<boolean> {
  const onDisk = readdirSync(MIGRATIONS_DIR)
    .filter((f) => !f.startsWith('.'))
    .map((f) => parse(f).name)
    .sort();
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(
      `SELECT name FROM ${MIGRATIONS_TABLE} ORDER BY run_on, id`,
    );
    return rows.length === onDisk.length && rows.every((r, i) => r.name === onDisk[i]);
  } catch (err) {
    if ((err as { code?: string }).code === UNDEFINED_TABLE) return false;
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function migrate(databaseUrl: string, logger?: Logger): Promise<string[]> {
  if (await schemaIsCurrent(databaseUrl)) return [];
  const { runner } = await import('node-pg-migrate');
  const applied = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: MIGRATIONS_TABLE,
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
