/**
 * Two API processes (api/main.ts, as deployed) behind one Redis share each identity's allowance: what a
 * caller spends on one replica is gone on the other.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../adapters/db/pool';
import { createApiKeysRepo } from '../../adapters/db/repos/api-keys';
import { eventually, testEnv, uniqueName } from '../helpers/env';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const procs: ChildProcess[] = [];
const urls: string[] = [];
let key: string;

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

beforeAll(async () => {
  expect(testEnv.REDIS_URL, 'REDIS_URL must point at the test Redis').toBeTruthy();
  const db = createPool(testEnv.DATABASE_URL, 1);
  key = (await createApiKeysRepo(db).create({ name: 'replica test', roles: ['analyst'], createdBy: 'test' }))
    .key;
  await db.end();
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'api/main.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: String(port),
        GRPC_PORT: '0',
        LOG_LEVEL: 'warn',
        API_RATE_LIMIT_PER_MINUTE: '3',
        DATABASE_URL: testEnv.DATABASE_URL,
        // Each replica's embedded ingest owns its own write-ahead log and checkpoint (one writer each).
        INGEST_SHARD_NAME: uniqueName(`replica-${i}`),
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    procs.push(child);
    urls.push(`http://127.0.0.1:${port}`);
  }
  for (const url of urls) {
    await eventually(async () => (await fetch(`${url}/readyz`).catch(() => null))?.ok, {
      timeoutMs: 90_000,
      what: `${url} ready`,
    });
  }
}, 120_000);

afterAll(async () => {
  await Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((resolve) => {
          if (p.exitCode !== null) return resolve();
          p.once('exit', () => resolve());
          p.kill('SIGTERM');
        }),
    ),
  );
});

describe('rate limits across replicas', () => {
  it('spends one allowance per identity across two API processes sharing Redis', async () => {
    const get = (url: string) =>
      fetch(`${url}/v1/targets?limit=1`, { headers: { authorization: `Bearer ${key}` } });
    const onA = [];
    for (let i = 0; i < 3; i++) onA.push((await get(urls[0]!)).status);
    expect(onA).toEqual([200, 200, 200]);
    // Replica B has served this caller nothing, yet the caller's allowance is spent.
    const onB = await get(urls[1]!);
    expect(onB.status).toBe(429);
    expect(Number(onB.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(onB.headers.get('ratelimit-remaining')).toBe('0');
    expect(onB.headers.get('content-type')).toContain('application/problem+json');
  });
});
