/**
 * Runs once before the suite: a clean test database with every migration applied. The services
 * themselves are started by `npm test` (infra/test.sh) and are real: PostgreSQL, Redis, Kafka, Temporal.
 */
import pg from 'pg';
import { parseEnv } from '../infra/env';
import { migrate } from '../infra/db/migrate';

export default async function setup(): Promise<void> {
  const env = parseEnv(process.env);
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
