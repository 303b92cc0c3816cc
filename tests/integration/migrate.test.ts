/**
 * Migrations on start: a database that has run every migration on disk is recognised by one read of the
 * migrations table (node-pg-migrate is not loaded and no lock is taken); any other state goes through
 * node-pg-migrate. Against a fresh database of the real PostgreSQL.
 */
import { readdirSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, MIGRATIONS_DIR, schemaIsCurrent } from '../../adapters/db/migrate';
import { eventually, testEnv, uniqueName } from '../helpers/env';

const dbName = uniqueName('migrate').replace(/-/g, '_');
const admin = new pg.Client({ connectionString: testEnv.DATABASE_URL });
const freshUrl = Object.assign(new URL(testEnv.DATABASE_URL), { pathname: `/${dbName}` }).toString();

beforeAll(async () => {
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
});
afterAll(async () => {
  // node-pg-migrate closes its connection without waiting for it: dropping the database WITH (FORCE)
  // under a closing client makes the server's FATAL an unhandled error in this file. Wait it out first.
  await eventually(
    async () =>
      (
        await admin.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
          [dbName],
        )
      ).rows[0]!.n === 0,
    { timeoutMs: 10_000, what: `the connections to ${dbName} to close` },
  ).catch(() => undefined);
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
});

describe('migrate', () => {
  it('applies every migration to a fresh database, then finds the schema current without applying', async () => {
    const files = readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql'));
    expect(files.length, `no migrations in ${MIGRATIONS_DIR}`).toBeGreaterThan(10);
    expect(await schemaIsCurrent(freshUrl)).toBe(false);
    expect(await migrate(freshUrl)).toHaveLength(files.length);
    expect(await schemaIsCurrent(freshUrl)).toBe(true);
    // The schema is there: the tables every process reads at start.
    const check = new pg.Client({ connectionString: freshUrl });
    await check.connect();
    try {
      const { rows } = await check.query<{ t: string | null }>(
        `SELECT to_regclass(t) AS t FROM unnest(ARRAY['api_keys', 'targets', 'routing_configs', 'rollouts']) t`,
      );
      expect(rows.map((r) => r.t)).toEqual(['api_keys', 'targets', 'routing_configs', 'rollouts']);
      // Dropped again by a later migration: nothing used it.
      const gone = await check.query<{ t: string | null }>(`SELECT to_regclass('lock_fences') AS t`);
      expect(gone.rows[0]!.t).toBeNull();
    } finally {
      await check.end();
    }
    expect(await migrate(freshUrl)).toEqual([]);
  });

  it('sees a migration missing from the table and applies it again through node-pg-migrate', async () => {
    const client = new pg.Client({ connectionString: freshUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ name: string }>(
        'DELETE FROM pgmigrations WHERE id = (SELECT max(id) FROM pgmigrations) RETURNING name',
      );
      expect(await schemaIsCurrent(freshUrl)).toBe(false);
      // node-pg-migrate runs the file again: it applies (idempotent SQL) or fails on the objects it already
      // made; either way the fast path did not skip it.
      const outcome = await migrate(freshUrl).catch((err: unknown) => err);
      if (outcome instanceof Error) expect(outcome.message).toMatch(/already exists/);
      else {
        expect(outcome).toEqual([rows[0]!.name]);
        expect(await schemaIsCurrent(freshUrl)).toBe(true);
      }
    } finally {
      await client.end();
    }
  });
});
