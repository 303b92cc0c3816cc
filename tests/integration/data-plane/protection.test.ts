/**
 * Ingest protection: a per-source token bucket answers 429 with Retry-After, a batch the bounded buffer
 * can never hold answers 413 (a full buffer's 503 is in ingest-limits.test.ts), and the database circuit
 * breaker shows in /readyz.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCommitBreaker } from '../../../pipeline/common';
import { uniqueName } from '../../helpers/env';
import { call, startTestSystem, type TestSystem } from '../../helpers/system';
import { healthBatch as batch } from './fixtures';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({
    workers: false,
    ingest: {
      name: uniqueName('protect'),
      env: {
        DATA_DIR: mkdtempSync(join(tmpdir(), 'llmopt-protect-')),
        // Refill so slow (1 event/s) that a loaded machine cannot refill 10 events between two calls.
        INGEST_RATE_LIMIT_EPS: 1,
        INGEST_RATE_LIMIT_BURST: 30,
        INGEST_MAX_BUFFERED_EVENTS: 25,
      },
    },
  });
});
afterAll(async () => {
  await sys?.stop();
});

describe('ingest protection', () => {
  it('answers 429 with Retry-After once a source spends its token bucket, and serves other sources', async () => {
    const target = uniqueName('limited');
    const key = await sys.keyFor('ingest');
    expect((await call(sys, 'POST', '/v1/events', batch(target, 20), {}, { auth: key })).status).toBe(202);
    const limited = await call(sys, 'POST', '/v1/events', batch(target, 20, 20), {}, { auth: key });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('content-type')).toContain('application/problem+json');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Another source has its own bucket. A small batch, so that it fits the bounded buffer (25) even while
    // the first 20 events are still waiting there on a loaded machine.
    const other = await sys.keyFor('ingest');
    expect((await call(sys, 'POST', '/v1/events', batch(target, 4, 40), {}, { auth: other })).status).toBe(
      202,
    );
  });

  it('answers 413 naming the limit for a batch larger than the bounded buffer could ever hold', async () => {
    const r = await call(sys, 'POST', '/v1/events', batch(uniqueName('full'), 26));
    expect(r.status).toBe(413);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    expect(r.headers.get('retry-after')).toBeNull();
    expect(r.body.detail).toMatch(
      /26 valid events exceeds the ingest buffer of 25 events \(INGEST_MAX_BUFFERED_EVENTS\)/,
    );
  });

  it('shows the ingest database breaker and pipeline in /readyz', async () => {
    const r = await call(sys, 'GET', '/readyz');
    expect(r.status).toBe(200);
    expect(r.body.checks.map((c: { name: string }) => c.name)).toEqual(
      expect.arrayContaining(['ingest-database', 'ingest-pipeline']),
    );
  });

  it('opens the breaker after repeated failures so readiness names it', async () => {
    const b = createCommitBreaker('ingest-database');
    for (let i = 0; i < 4; i++)
      await b.guard(() => Promise.reject(new Error('connection refused'))).catch(() => undefined);
    await expect(b.check().check()).rejects.toThrow(/circuit open/);
    await expect(b.guard(() => Promise.resolve(1))).rejects.toThrow();
    b.breaker.shutdown();
  });
});
