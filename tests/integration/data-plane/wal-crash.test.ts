/**
 * Embedded mode, "acknowledged means durable": the API process (WAL pipeline, no Kafka; its shard on
 * the API thread or in a worker thread) is killed with SIGKILL while clients are sending; after a restart, with every unacknowledged batch retried and some
 * acknowledged ones resent, the stored aggregates hold every event exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Db } from '../../../adapters/db/pool';
import { createAggregatesRepo } from '../../../pipeline/adapters/store';
import { createApiKeysRepo } from '../../../adapters/db/repos/api-keys';
import { freePort } from '../../../platform/net';
import { eventually, testEnv, uniqueName } from '../../helpers/env';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
let db: Db;
let key: string;

beforeAll(async () => {
  db = createPool(testEnv.DATABASE_URL, 5);
  key = (
    await createApiKeysRepo(db).create({ name: uniqueName('wal-crash'), roles: ['admin'], createdBy: 'test' })
  ).key;
});
afterAll(async () => {
  await db?.end();
});

describe.each([
  { mode: 'on the API thread', thread: 'false' },
  { mode: 'in a shard thread', thread: 'true' },
])('embedded WAL pipeline, shard $mode', ({ thread }) => {
  it('loses and doubles nothing acknowledged when the API process is SIGKILLed mid-stream', async () => {
    const port = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'llmopt-wal-crash-'));
    const start = (): ChildProcess =>
      spawn(process.execPath, ['--import', 'tsx', 'api/main.ts'], {
        cwd: ROOT,
        env: {
          ...process.env,
          DATABASE_URL: testEnv.DATABASE_URL,
          KAFKA_BROKERS: '',
          PORT: String(port),
          DATA_DIR: dataDir,
          INGEST_FLUSH_INTERVAL_MS: '200',
          INGEST_SHARD_THREAD: thread,
          // Any free port: two API processes of concurrent test files must not collide on 9090.
          GRPC_PORT: '0',
          LOG_LEVEL: 'silent',
        },
        stdio: 'ignore',
      });
    const url = `http://127.0.0.1:${port}`;
    const up = () =>
      eventually(async () => (await fetch(`${url}/healthz`).catch(() => null))?.ok, {
        timeoutMs: 60_000,
        what: 'API up',
      });

    const target = uniqueName('wal-crash');
    const base = Date.now() - 60_000;
    const batches = Array.from({ length: 60 }, (_, b) =>
      Array.from({ length: 100 }, (_, i) => {
        const k = b * 100 + i;
        return {
          type: 'llm.request',
          id: `${target}-${k}`,
          timestamp: new Date(base + (k % 500) * 100).toISOString(),
          target,
          arm: k % 2 ? 'a' : 'b',
          request_id: `r-${k}`,
          model: 'gpt-4o',
          provider: 'openai',
          latency_ms: 10 + (k % 50),
          input_tokens: k % 31,
          output_tokens: 1,
          cost_usd: 0.001,
        };
      }),
    );
    const post = async (batch: unknown[]) => {
      try {
        const r = await fetch(`${url}/v1/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
          body: JSON.stringify(batch),
        });
        return r.status === 202;
      } catch {
        return false; // the process died mid-request: not acknowledged
      }
    };

    let child = start();
    const acked = new Set<number>();
    try {
      await up();
      // Four concurrent clients; the process is killed while their requests are in flight.
      let next = 0;
      let killed = false;
      const client = async () => {
        while (next < batches.length && !killed) {
          const b = next++;
          if (await post(batches[b]!)) acked.add(b);
          if (acked.size === 20 && !killed) {
            killed = true;
            child.kill('SIGKILL');
          }
        }
      };
      await Promise.all([client(), client(), client(), client()]);
      await new Promise((r) =>
        child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r),
      );
      expect(acked.size).toBeGreaterThanOrEqual(20);

      child = start();
      await up();
      // Clients retry what was not acknowledged, and resend a few acknowledged batches too.
      for (let b = 0; b < batches.length; b++) if (!acked.has(b)) expect(await post(batches[b]!)).toBe(true);
      for (const b of [...acked].slice(0, 5)) expect(await post(batches[b]!)).toBe(true);

      const all = batches.flat();
      const repo = createAggregatesRepo(db);
      const sum = async () => {
        const w = await repo.query({
          target,
          from: new Date(base - 60_000).toISOString(),
          to: new Date(Date.now() + 60_000).toISOString(),
        });
        return {
          count: w.reduce((s, x) => s + x.count, 0),
          input_tokens: w.reduce((s, x) => s + x.input_tokens, 0),
        };
      };
      const want = { count: all.length, input_tokens: all.reduce((s, e) => s + e.input_tokens, 0) };
      // At least all: a double count then shows as a mismatch below rather than as a timeout.
      await eventually(async () => (await sum()).count >= want.count, {
        timeoutMs: 60_000,
        what: 'every event aggregated',
      }).catch(async (err: unknown) => {
        throw new Error(
          `${String(err)}; stored ${JSON.stringify(await sum())}, want ${JSON.stringify(want)}`,
        );
      });
      expect(await sum()).toEqual(want);
    } finally {
      child.kill('SIGKILL');
    }
  }, 180_000);
});
