/**
 * Property-based fuzz of the whole OpenAPI document with schemathesis (PyPI, installed by
 * infra/fuzz.sh into .local/venv): generated valid and invalid requests against every operation, over
 * real HTTP, as an admin. Fails on any 5xx and on any response that breaks its own documented schema.
 * Bounded examples per operation keep it within a few minutes (FUZZ_MAX_EXAMPLES to change).
 */
import '@hono/zod-openapi';
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { listenApi } from '../../api/server';
import { API_KEY_PATTERN } from '../../adapters/db/repos/api-keys';
import { startIngestFront } from '../../pipeline';
import pg from 'pg';
import { migrate } from '../../adapters/db/migrate';
import { testEnv, uniqueName } from '../helpers/env';
import { startTestSystem, type TestSystem } from '../helpers/system';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let sys: TestSystem;
let server: Server;
let stopIngest: () => Promise<void>;
let base: string;
// The fuzzer reads ids from the answers and sends them back (DELETE included): on the shared database it
// would revoke other files' keys and delete their targets. It gets a database of its own.
const dbName = uniqueName('fuzz').replace(/-/g, '_');
const dbUrl = Object.assign(new URL(testEnv.DATABASE_URL), { pathname: `/${dbName}` }).toString();
const admin = new pg.Client({ connectionString: testEnv.DATABASE_URL });

beforeAll(async () => {
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await migrate(dbUrl);
  // With workers, so the cycles the fuzzer starts run and can be read, and with the routing-config
  // cache (so the config read's fast path runs), as in production. Without Redis, as `npm start` runs:
  // the invalidation bus is then its own database's LISTEN/NOTIFY, so the cache flushes the fuzzer sends
  // (POST /v1/admin/cache/flush) reach no other file's processes through the shared Redis.
  sys = await startTestSystem({ cache: true, env: { DATABASE_URL: dbUrl, REDIS_URL: undefined } });
  const ingest = await startIngestFront({ env: sys.deps.env, db: sys.deps.db, logger: sys.deps.logger });
  stopIngest = ingest.stop;
  // Limits off: the fuzzer sends far more than a client would in a minute.
  const deps = {
    ...sys.deps,
    ingest: ingest.front,
    env: { ...testEnv, API_RATE_LIMIT_PER_MINUTE: 0, API_RATE_LIMIT_ANONYMOUS_PER_MINUTE: 0 },
  };
  // Served as api/main.ts serves it, config-read fast path included.
  server = await listenApi(createApp(deps), 0, '127.0.0.1');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await stopIngest?.();
  await sys?.stop();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
});

describe('OpenAPI fuzz (schemathesis)', () => {
  it('finds no 5xx and no response that breaks its own schema', async () => {
    const examples = process.env.FUZZ_MAX_EXAMPLES ?? '10';
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn('bash', ['infra/fuzz.sh', 'run', base, sys.adminKey, examples], {
        cwd: ROOT,
        env: { ...process.env, NO_COLOR: '1' },
      });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.on('close', (c) => resolve({ code: c, output }));
    });
    // The key's secret part (it may itself contain underscores, so not split('_')).
    expect(output).not.toContain(API_KEY_PATTERN.exec(sys.adminKey)![2]!);
    expect(code, output.slice(-20_000)).toBe(0);
  }, 900_000);
});
