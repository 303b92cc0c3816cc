/**
 * Runs once before the suite: every migration applied to the test database. The services themselves
 * are started by `npm test` (infra/test.sh) and are real: PostgreSQL, Redis, Kafka, Temporal. Tests
 * isolate themselves by unique names, so the database is not wiped (CI starts from an empty one); only a
 * schema whose migration history no longer matches the code is rebuilt.
 */
import pg from 'pg';
import { parseEnv } from '../platform/env';
import { migrate } from '../adapters/db/migrate';

export default async function setup(): Promise<void> {
  const env = parseEnv(process.env);
  try {
    await migrate(env.DATABASE_URL);
  } catch (err) {
    if (!(err instanceof Error) || !/preceding already run migration|Not run migration/.test(err.message))
      throw err;
    const client = new pg.Client({ connectionString: env.DATABASE_URL });
    await client.connect();
    try {
      await client.query('DROP SCHEMA IF EXISTS public CASCADE');
      await client.query('CREATE SCHEMA public');
    } finally {
      await client.end();
    }
    await migrate(env.DATABASE_URL);
  }
}
