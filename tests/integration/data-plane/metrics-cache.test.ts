/**
 * GET /v1/targets/{target}/metrics through the hot-aggregates reader, as api/main.ts wires it (real
 * PostgreSQL and Redis): the answer is exact, a repeat query is served from the in-process tier, and a
 * newly committed window is seen at once because the commit invalidates the cached block.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, testEnv, uniqueName } from '../../helpers/env';
import { call, startTestSystem, type TestSystem } from '../../helpers/system';
import { llmRequest } from './fixtures';

let sys: TestSystem;
let redis: Redis;
beforeAll(async () => {
  redis = new Redis(testEnv.REDIS_URL!);
  sys = await startTestSystem({
    workers: false,
    cache: true,
    ingest: {
      name: uniqueName('metrics-cache'),
      redis,
      env: { DATA_DIR: mkdtempSync(join(tmpdir(), 'llmopt-mcache-')), INGEST_FLUSH_INTERVAL_MS: 100 },
    },
  });
});
afterAll(async () => {
  await sys?.stop();
  redis?.disconnect();
});

const BASE = Date.now() - 5 * 60_000;
const TO = new Date(Date.now() + 60_000).toISOString();
const request = (target: string, n: number, arm: string, latency: number) =>
  llmRequest(target, n, BASE + n * 100, { arm, latency_ms: latency, cost_usd: 0.002 });

interface Point {
  count: number;
  cost_usd: number;
  latency: { p50: number | null; p99: number | null };
}
async function metrics(target: string): Promise<Record<string, Point[]>> {
  const from = new Date(BASE - 3_600_000).toISOString();
  const r = await call(sys, 'GET', `/v1/targets/${target}/metrics?from=${from}&to=${TO}&step=1d`);
  expect(r.status).toBe(200);
  const body = r.body as { series: { arm: string; points: Point[] }[] };
  return Object.fromEntries(body.series.map((s) => [s.arm, s.points]));
}
const count = (points: Point[] | undefined) => (points ?? []).reduce((s, p) => s + p.count, 0);

describe('metrics query over hot aggregates', () => {
  it('answers exactly, repeats from memory, and sees a new commit through invalidation', async () => {
    const target = uniqueName('mq');
    const events = Array.from({ length: 40 }, (_, i) => request(target, i, i % 2 ? 'b' : 'a', 100 + i * 10));
    expect((await call(sys, 'POST', '/v1/events', events)).status).toBe(202);
    await sys.ingest!.pipeline.drain();
    const reader = sys.deps.caches.aggregates!;

    const first = await eventually(async () => {
      const m = await metrics(target);
      return count(m.a) === 20 && count(m.b) === 20 ? m : undefined;
    });
    expect(first.a![0]!.cost_usd).toBeCloseTo(0.04, 9);
    const loads = reader.stats().loads;
    const l1 = reader.stats().l1;
    expect(await metrics(target)).toEqual(first);
    expect(reader.stats().loads).toBe(loads);
    expect(reader.stats().l1).toBeGreaterThan(l1);

    const more = Array.from({ length: 10 }, (_, i) => request(target, 100 + i, 'a', 5_000));
    expect((await call(sys, 'POST', '/v1/events', more)).status).toBe(202);
    await sys.ingest!.pipeline.drain();
    const after = await eventually(async () => {
      const m = await metrics(target);
      return count(m.a) === 30 ? m : undefined;
    });
    expect(count(after.b)).toBe(20);
    // The 10 slow requests move arm a's p99 to their latency: merged sketches, per arm.
    expect(after.a![0]!.latency.p99).toBeGreaterThan(4_900);
    expect(reader.stats().loads).toBeGreaterThan(loads);
  });
});
