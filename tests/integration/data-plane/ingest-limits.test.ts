/**
 * Ingest limits across processes, over real PostgreSQL and Redis: a source's rate limit is one budget
 * shared by every process through Redis (two API front doors, one key: the second sees what the first
 * spent), and a bounded buffer that is merely full now answers 503 with Retry-After (a batch it could
 * never hold is a 413, in protection.test.ts).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAggregatesRepo } from '../../../pipeline/adapters/store';
import { testEnv, uniqueName } from '../../helpers/env';
import { call, startTestSystem, type TestSystem } from '../../helpers/system';
import { healthBatch as batch } from './fixtures';

let redis: Redis;
const systems: TestSystem[] = [];

const start = async (env: Record<string, number>, withRedis = true) => {
  const sys = await startTestSystem({
    workers: false,
    ingest: {
      name: uniqueName('limits'),
      ...(withRedis ? { redis } : {}),
      env: { DATA_DIR: mkdtempSync(join(tmpdir(), 'llmopt-limits-')), ...env },
    },
  });
  systems.push(sys);
  return sys;
};

beforeAll(() => {
  redis = new Redis(testEnv.REDIS_URL!);
});
afterAll(async () => {
  for (const s of systems) await s.stop();
  redis?.disconnect();
});

describe('ingest limits shared across processes', () => {
  it('spends one per-source budget across two front doors sharing Redis: 429 with Retry-After', async () => {
    // Refill so slow (1 event/s) that a loaded machine cannot refill 10 events between two calls.
    const limits = { INGEST_RATE_LIMIT_EPS: 1, INGEST_RATE_LIMIT_BURST: 30 };
    const [a, b] = [await start(limits), await start(limits)];
    const target = uniqueName('shared-limit');
    const key = await a.keyFor('ingest');
    const first = await call(a, 'POST', '/v1/events', batch(target, 20), {}, { auth: key });
    expect(first.status).toBe(202);
    // Each process alone would still hold 30 tokens; together 10 are left.
    const second = await call(b, 'POST', '/v1/events', batch(target, 20, 20), {}, { auth: key });
    expect(second.status).toBe(429);
    expect(second.headers.get('content-type')).toContain('application/problem+json');
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThanOrEqual(10);
    // What is left of the shared budget is still usable, from either process; another source has its own.
    expect((await call(b, 'POST', '/v1/events', batch(target, 5, 40), {}, { auth: key })).status).toBe(202);
    const other = await b.keyFor('ingest');
    expect((await call(a, 'POST', '/v1/events', batch(target, 20, 60), {}, { auth: other })).status).toBe(
      202,
    );
  });

  it('keeps a per-process bucket without Redis (embedded mode)', async () => {
    const limits = { INGEST_RATE_LIMIT_EPS: 1, INGEST_RATE_LIMIT_BURST: 30 };
    const [a, b] = [await start(limits, false), await start(limits, false)];
    const target = uniqueName('local-limit');
    const key = await a.keyFor('ingest');
    expect((await call(a, 'POST', '/v1/events', batch(target, 20), {}, { auth: key })).status).toBe(202);
    expect((await call(b, 'POST', '/v1/events', batch(target, 20, 20), {}, { auth: key })).status).toBe(202);
    expect((await call(a, 'POST', '/v1/events', batch(target, 20, 40), {}, { auth: key })).status).toBe(429);
  });

  it('answers 503 with Retry-After while the bounded buffer is full, and 413 only for what can never fit', async () => {
    const sys = await start({ INGEST_MAX_BUFFERED_EVENTS: 25 });
    // Another owner claims the pipeline's shard: its commits are fenced off, so what it accepts stays buffered.
    await createAggregatesRepo(sys.deps.db).claim(sys.ingest!.pipeline.shardName);
    const target = uniqueName('full');
    expect((await call(sys, 'POST', '/v1/events', batch(target, 20))).status).toBe(202);
    const full = await call(sys, 'POST', '/v1/events', batch(target, 10, 20));
    expect(full.status).toBe(503);
    expect(full.headers.get('content-type')).toContain('application/problem+json');
    expect(full.headers.get('retry-after')).toBe('1');
    expect(full.body.detail).toMatch(/buffer is full \(20 events not yet aggregated\)/);
    const never = await call(sys, 'POST', '/v1/events', batch(target, 26, 40));
    expect(never.status).toBe(413);
    expect(never.body.detail).toMatch(/ingest buffer of 25 events/);
  });
});
