/**
 * "Acknowledged means durable" for feedback that waits for its request: a `user.feedback` that arrives
 * before its `llm.request` is held by the shard, and once a commit moves the offset past it, it lives in
 * ingest_pending_joins (same transaction). The API process (embedded WAL pipeline, real PostgreSQL and
 * Redis) is SIGKILLed after that commit; after a restart the request arrives and the feedback joins it,
 * another feedback whose request never comes falls back to the unassigned arm, and a resend of an
 * acknowledged feedback counts nothing: each feedback is counted exactly once, on the right arm.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNASSIGNED_ARM, type TelemetryEvent } from '../../../domain/events';
import { createPool, type Db } from '../../../adapters/db/pool';
import { createAggregatesRepo } from '../../../pipeline/adapters/store';
import { createApiKeysRepo } from '../../../adapters/db/repos/api-keys';
import { freePort } from '../../../platform/net';
import { eventually, testEnv, uniqueName } from '../../helpers/env';
import { spawnEntrypoint, type Spawned } from '../../helpers/process';
import { llmRequest, userFeedback } from './fixtures';

let db: Db;
let key: string;

beforeAll(async () => {
  db = createPool(testEnv.DATABASE_URL, 5);
  key = (
    await createApiKeysRepo(db).create({
      name: uniqueName('pending-join'),
      roles: ['admin'],
      createdBy: 'test',
    })
  ).key;
});
afterAll(async () => {
  await db?.end();
});

describe('feedback waiting for its request across a SIGKILL', () => {
  it('joins or falls back exactly once after the process is killed past its committed offset', async () => {
    expect(testEnv.REDIS_URL, 'the API process needs Redis for dedup and the join index').toBeDefined();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const dataDir = mkdtempSync(join(tmpdir(), 'llmopt-pending-join-'));
    const name = uniqueName('pjoin');
    const shard = `wal:${name}`;
    const start = (): Spawned =>
      spawnEntrypoint('api/main.ts', {
        ...process.env,
        DATABASE_URL: testEnv.DATABASE_URL,
        KAFKA_BROKERS: '',
        PORT: String(port),
        DATA_DIR: dataDir,
        INGEST_SHARD_NAME: name,
        INGEST_FLUSH_INTERVAL_MS: '100',
        // A short lateness: a later event soon decides the fate of feedback whose request never comes.
        INGEST_ALLOWED_LATENESS_MS: '10000',
        LOG_LEVEL: 'silent',
      });
    const up = (p: Spawned) =>
      eventually(async () => (await fetch(`${url}/healthz`).catch(() => null))?.ok, {
        timeoutMs: 60_000,
        what: `API up (${p.output().slice(-500)})`,
      });
    const post = async (events: TelemetryEvent[]) => {
      const r = await fetch(`${url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify(events),
      });
      expect(r.status, await r.text()).toBe(202);
    };

    const target = uniqueName('pjoin');
    const T0 = Date.now() - 120_000;
    const request = (n: number) => llmRequest(target, n, T0 + n, { arm: 'a1' });
    // Seconds after its request, in the same window: only the join decides the arm.
    const feedback = (n: number) => userFeedback(target, n, T0 + n + 1_000);
    const stored = async () =>
      (
        await db.query<{ event_id: string }>(
          'SELECT event_id FROM ingest_pending_joins WHERE shard = $1 ORDER BY event_id',
          [shard],
        )
      ).rows.map((r) => r.event_id);
    const aggregates = async () => {
      const windows = await createAggregatesRepo(db).query({
        target,
        from: new Date(T0 - 3_600_000).toISOString(),
        to: new Date(Date.now() + 60_000).toISOString(),
      });
      const feedbackByArm: Record<string, number> = {};
      let requests = 0;
      for (const w of windows) {
        requests += w.count;
        if (w.feedback.count > 0) feedbackByArm[w.arm] = (feedbackByArm[w.arm] ?? 0) + w.feedback.count;
      }
      return { requests, feedbackByArm };
    };

    let p = start();
    try {
      await up(p);
      // Both feedbacks come before their requests: acknowledged, then held waiting by the shard.
      await post([feedback(1), feedback(2)]);
      // The commit that moved the offset past them stored them; then the process dies without warning.
      await eventually(async () => (await stored()).length === 2, {
        timeoutMs: 30_000,
        what: 'the waiting feedback committed',
      });
      const [checkpoint] = await createAggregatesRepo(db).checkpoints(shard);
      expect(checkpoint!.nextOffset).toBeGreaterThanOrEqual(2);
      expect(await aggregates()).toEqual({ requests: 0, feedbackByArm: {} });
      p.child.kill('SIGKILL');
      expect((await p.exited).signal).toBe('SIGKILL');

      p = start();
      await up(p);
      // Request 1 arrives at last, and a client resends an acknowledged feedback (a duplicate).
      await post([request(1), feedback(1)]);
      await eventually(async () => (await aggregates()).feedbackByArm.a1 === 1, {
        timeoutMs: 30_000,
        what: 'the restored feedback joined to its request',
      });
      // A much later event pushes the watermark past the lateness: feedback 2 counts unassigned.
      await post([{ ...request(9), timestamp: new Date().toISOString() }]);
      const want = { requests: 2, feedbackByArm: { a1: 1, [UNASSIGNED_ARM]: 1 } };
      await eventually(async () => isDeepStrictEqual(await aggregates(), want), {
        timeoutMs: 30_000,
        what: 'every feedback counted once',
      }).catch(async (err: unknown) => {
        throw new Error(`${String(err)}; stored ${JSON.stringify(await aggregates())}`);
      });
      // Resolved feedback leaves no stored row behind, and the duplicate was counted as one.
      await eventually(async () => (await stored()).length === 0, {
        timeoutMs: 30_000,
        what: 'resolved feedback dropped from the store',
      });
      const [after] = await createAggregatesRepo(db).checkpoints(shard);
      expect(after!.duplicates).toBe(1);
      expect(await aggregates()).toEqual(want);
    } finally {
      p.child.kill('SIGKILL');
    }
  }, 180_000);
});
