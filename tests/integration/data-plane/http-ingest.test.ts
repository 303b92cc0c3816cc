/**
 * HTTP ingest on embedded defaults, end to end over real PostgreSQL: POST /v1/events (JSON, NDJSON,
 * gzip) → WAL → windows → aggregates → GET /v1/targets/{target}/metrics. Bad input is rejected per
 * index and field while the rest of the batch is accepted; resends count once.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAggregatesRepo } from '../../../pipeline/adapters/store';
import { uniqueName } from '../../helpers/env';
import { call, startTestSystem, type TestSystem } from '../../helpers/system';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({
    workers: false,
    ingest: {
      name: uniqueName('http'),
      env: { DATA_DIR: mkdtempSync(join(tmpdir(), 'llmopt-ingest-')), INGEST_FLUSH_INTERVAL_MS: 100 },
    },
  });
});
afterAll(async () => {
  await sys?.stop();
});

const BASE = Date.now() - 120_000;

/** Metrics points and rejections as the assertions read them (JSON bodies). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- assertions read arbitrary response fields
type Point = Record<string, any>;
type MetricsBody = { series: { arm: string; segment: string; points: Point[] }[] };
interface Rejected {
  index: number;
  errors: { path: string; message: string }[];
}
const at = (ms: number) => new Date(BASE + ms).toISOString();

function req(target: string, n: number, over: Record<string, unknown> = {}) {
  return {
    type: 'llm.request',
    id: `${target}-req-${n}`,
    timestamp: at(n * 10),
    target,
    arm: n % 2 === 0 ? 'gpt-4o' : 'haiku',
    request_id: `${target}-r${n}`,
    model: n % 2 === 0 ? 'gpt-4o' : 'claude-3-5-haiku',
    provider: n % 2 === 0 ? 'openai' : 'anthropic',
    latency_ms: 100 + n,
    ttft_ms: 20,
    input_tokens: 1000,
    output_tokens: 100,
    status: 'ok',
    ...over,
  };
}

async function metrics(target: string, query = '') {
  await sys.ingest!.pipeline.drain();
  const from = new Date(BASE - 3_600_000).toISOString();
  const to = new Date(Date.now() + 60_000).toISOString();
  const r = await call(sys, 'GET', `/v1/targets/${target}/metrics?from=${from}&to=${to}&step=1d${query}`);
  expect(r.status).toBe(200);
  return r.body as MetricsBody;
}

const total = (series: { points: Point[] }[], f: (p: Point) => number) =>
  series.reduce((s, x) => s + x.points.reduce((t, p) => t + f(p), 0), 0);

describe('POST /v1/events', () => {
  it('accepts a batch durably and serves it as aggregates with merged percentiles and priced cost', async () => {
    const target = uniqueName('bot');
    // A model of its own: other test files may edit the shared price table's well-known models.
    const model = uniqueName('gpt');
    const price = {
      input_usd_per_mtok: 2.5,
      output_usd_per_mtok: 10,
      effective_from: new Date(BASE - 3_600_000).toISOString(),
    };
    expect((await call(sys, 'PUT', `/v1/prices/${model}`, price)).status).toBe(200);
    const events = Array.from({ length: 40 }, (_, n) =>
      req(target, n, n % 2 === 0 ? { model } : { cost_usd: 0.001 }),
    );
    const r = await call(sys, 'POST', '/v1/events', events);
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ accepted: 40, rejected: 0, errors: [] });

    const m = await metrics(target);
    const byArm = Object.fromEntries(m.series.map((s) => [s.arm, s.points[0]!]));
    expect(byArm['gpt-4o']!.count).toBe(20);
    expect(byArm['haiku']!.count).toBe(20);
    // Priced from the table: 1000 in × $2.5/M + 100 out × $10/M per call; haiku's carried their own cost.
    expect(byArm['gpt-4o']!.cost_usd).toBeCloseTo((20 * (1000 * 2.5 + 100 * 10)) / 1e6, 9);
    expect(byArm['haiku']!.cost_usd).toBeCloseTo(0.02, 12);
    expect(byArm['haiku']!.input_tokens).toBe(20_000);
    // Latencies of gpt-4o are 100, 102, ..., 138: the sketch's median is within its 1% accuracy.
    expect(byArm['gpt-4o']!.latency.p50).toBeGreaterThan(117 * 0.99);
    expect(byArm['gpt-4o']!.latency.p50).toBeLessThan(120 * 1.01);
    expect(byArm['gpt-4o']!.ttft.p99).toBeCloseTo(20, 0);

    // The aggregates repository the judge reads gives the same windows.
    const windows = await createAggregatesRepo(sys.deps.db).query({
      target,
      arm: 'haiku',
      from: at(-60_000),
      to: at(60_000),
    });
    expect(windows.reduce((s, w) => s + w.count, 0)).toBe(20);
    expect(windows.every((w) => w.latency_sketch !== null)).toBe(true);
  });

  it('counts a resent batch once (idempotent on event id)', async () => {
    const target = uniqueName('retry');
    const events = Array.from({ length: 10 }, (_, n) => req(target, n));
    expect((await call(sys, 'POST', '/v1/events', events)).status).toBe(202);
    expect((await call(sys, 'POST', '/v1/events', events)).status).toBe(202);
    expect((await call(sys, 'POST', '/v1/events', events.slice(3, 7))).status).toBe(202);
    const m = await metrics(target);
    expect(total(m.series, (p) => p.count)).toBe(10);
  });

  it('rejects bad events by index and field and accepts the rest of the batch', async () => {
    const target = uniqueName('bad');
    const batch = [
      req(target, 0),
      req(target, 1, { latency_ms: -5 }),
      { ...req(target, 2), type: 'llm.teleport' },
      req(target, 3, { input_tokens: 'many' }),
      req(target, 0),
      req(target, 5, { timestamp: new Date(Date.now() + 3_600_000).toISOString() }),
      req(target, 6, { quality_score: 1.5 }),
      req(target, 7),
    ];
    const r = await call(sys, 'POST', '/v1/events', batch);
    expect(r.status).toBe(202);
    expect(r.body.accepted).toBe(2);
    const paths = r.body.errors.flatMap((e: Rejected) => e.errors.map((x) => x.path));
    expect(paths).toEqual([
      '[1].latency_ms',
      '[2].type',
      '[3].input_tokens',
      '[4].id',
      '[5].timestamp',
      '[6].quality_score',
    ]);
    expect(r.body.errors.find((e: Rejected) => e.index === 4).errors[0].message).toMatch(
      /duplicate of the event at index 0/,
    );
    expect(total((await metrics(target)).series, (p) => p.count)).toBe(2);
  });

  it('answers 422 problem+json when nothing in the batch is valid', async () => {
    const r = await call(sys, 'POST', '/v1/events', [{ type: 'llm.request', id: 'x' }]);
    expect(r.status).toBe(422);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    expect(r.body.errors.map((e: { path: string }) => e.path)).toContain('[0].timestamp');
    expect(r.body.errors.map((e: { path: string }) => e.path)).toContain('[0].latency_ms');
  });

  it('answers malformed JSON 400, a non-array 422, an unknown media type 415 and an oversized batch 413', async () => {
    const malformed = await call(sys, 'POST', '/v1/events', '[{"type": ');
    expect(malformed.status).toBe(400);
    expect(malformed.body.detail).toMatch(/JSON/);
    expect((await call(sys, 'POST', '/v1/events', { type: 'llm.request' })).status).toBe(422);
    const xml = await call(sys, 'POST', '/v1/events', '<events/>', { 'content-type': 'application/xml' });
    expect(xml.status).toBe(415);
    const many = Array.from({ length: sys.deps.env.INGEST_MAX_BATCH_EVENTS + 1 }, () => ({}));
    const big = await call(sys, 'POST', '/v1/events', many);
    expect(big.status).toBe(413);
    expect(big.body.detail).toMatch(/at most/);
  });

  it('takes gzip-compressed NDJSON, rejecting only the broken line', async () => {
    const target = uniqueName('ndjson');
    const lines = [JSON.stringify(req(target, 0)), '{not json', JSON.stringify(req(target, 1))].join('\n');
    const res = await sys.app.request('/v1/events', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-ndjson',
        'content-encoding': 'gzip',
        authorization: `Bearer ${sys.adminKey}`,
      },
      body: gzipSync(Buffer.from(lines)),
    });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { accepted: number; errors: Rejected[] };
    expect(body.accepted).toBe(2);
    expect(body.errors[0]).toMatchObject({ index: 1, errors: [{ path: '[1]' }] });
    expect(total((await metrics(target)).series, (p) => p.count)).toBe(2);
  });

  it("joins user.feedback to its request's arm by request_id, whichever arrives first", async () => {
    const target = uniqueName('fb');
    const feedback = (n: number, thumbs: 'up' | 'down') => ({
      type: 'user.feedback',
      id: `${target}-fb-${n}`,
      timestamp: at(n * 10 + 5_000),
      target,
      request_id: `${target}-r${n}`,
      thumbs,
      rating: thumbs === 'up' ? 1 : 0,
    });
    // Feedback for request 1 arrives before its request; request 0's after.
    expect((await call(sys, 'POST', '/v1/events', [req(target, 0), feedback(1, 'down')])).status).toBe(202);
    expect((await call(sys, 'POST', '/v1/events', [req(target, 1), feedback(0, 'up')])).status).toBe(202);
    const m = await metrics(target);
    const byArm = Object.fromEntries(m.series.map((s) => [s.arm, s.points[0]!]));
    expect(byArm['gpt-4o']!.feedback).toMatchObject({ count: 1, thumbs_up: 1, rating_mean: 1 });
    expect(byArm['haiku']!.feedback).toMatchObject({ count: 1, thumbs_down: 1, rating_mean: 0 });
    expect(m.series.map((s) => s.arm)).not.toContain('unassigned');
  });

  it('prices events without cost from the versioned price table edited through the API', async () => {
    const target = uniqueName('priced');
    const model = uniqueName('model');
    const set = await call(sys, 'PUT', `/v1/prices/${model}`, {
      provider: 'acme',
      input_usd_per_mtok: 1,
      output_usd_per_mtok: 2,
      effective_from: new Date(BASE - 60_000).toISOString(),
    });
    expect(set.status).toBe(200);
    expect(set.body.version).toBe(1);
    const again = await call(sys, 'PUT', `/v1/prices/${model}`, {
      input_usd_per_mtok: 10,
      output_usd_per_mtok: 20,
      effective_from: at(50_000),
    });
    expect(again.body.version).toBe(2);
    expect(
      (await call(sys, 'GET', `/v1/prices/${model}`)).body.items.map((p: { version: number }) => p.version),
    ).toEqual([2, 1]);
    const bad = await call(sys, 'PUT', `/v1/prices/${model}`, {
      input_usd_per_mtok: -1,
      output_usd_per_mtok: 2,
    });
    expect(bad.status).toBe(422);
    expect(bad.body.errors[0].path).toBe('input_usd_per_mtok');

    // One event before version 2 takes effect, one after: each priced at the version in force at its time.
    const events = [
      req(target, 0, { model, timestamp: at(0) }),
      req(target, 1, { model, timestamp: at(60_000) }),
    ];
    expect((await call(sys, 'POST', '/v1/events', events)).status).toBe(202);
    const cost = total((await metrics(target)).series, (p) => p.cost_usd);
    expect(cost).toBeCloseTo((1000 * 1 + 100 * 2) / 1e6 + (1000 * 10 + 100 * 20) / 1e6, 12);
  });

  it('gives the same totals for any batching, order and resending of an event set', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            ms: fc.integer({ min: 0, max: 60_000 }),
            latency: fc.integer({ min: 0, max: 5_000 }),
            tokens: fc.nat(5_000),
          }),
          {
            minLength: 1,
            maxLength: 60,
          },
        ),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.integer({ min: 1, max: 25 }),
        async (specs, resend, batchSize) => {
          const target = uniqueName('prop');
          const events = specs.map((s, n) =>
            req(target, n, {
              timestamp: at(s.ms),
              latency_ms: s.latency,
              ttft_ms: 0,
              input_tokens: s.tokens,
              cost_usd: s.tokens / 1e7,
            }),
          );
          const arrivals = [...events, ...resend.map((i) => events[i % events.length]!)].reverse();
          for (let i = 0; i < arrivals.length; i += batchSize) {
            const batch = arrivals.slice(i, i + batchSize);
            // A resend inside one batch is an in-batch duplicate: rejected there, counted once anyway.
            const r = await call(sys, 'POST', '/v1/events', batch);
            expect([202, 422]).toContain(r.status);
          }
          const m = await metrics(target);
          expect(total(m.series, (p) => p.count)).toBe(events.length);
          expect(total(m.series, (p) => p.input_tokens)).toBe(specs.reduce((s, x) => s + x.tokens, 0));
          expect(total(m.series, (p) => p.cost_usd)).toBeCloseTo(
            specs.reduce((s, x) => s + x.tokens / 1e7, 0),
            9,
          );
        },
      ),
      { numRuns: 8 },
    );
  });
});

describe('OpenAPI document', () => {
  it('publishes the ingest, traces, metrics and prices routes with the event schema', async () => {
    const r = await call(sys, 'GET', '/openapi.json');
    expect(r.status).toBe(200);
    expect(Object.keys(r.body.paths)).toEqual(
      expect.arrayContaining([
        '/v1/events',
        '/v1/traces',
        '/v1/targets/{target}/metrics',
        '/v1/prices',
        '/v1/prices/{model}',
      ]),
    );
    const body = JSON.stringify(r.body.paths['/v1/events'].post.requestBody);
    expect(body).toContain('llm.request');
    expect(body).toContain('user.feedback');
  });
});

describe('GET /v1/targets/{target}/metrics', () => {
  it('merges base windows into any coarser step without changing totals', async () => {
    const target = uniqueName('steps');
    const events = Array.from({ length: 30 }, (_, n) =>
      req(target, n, { timestamp: at(n * 2_000), arm: 'a' }),
    );
    expect((await call(sys, 'POST', '/v1/events', events)).status).toBe(202);
    await sys.ingest!.pipeline.drain();
    const from = new Date(Math.floor(BASE / 60_000) * 60_000).toISOString();
    const to = new Date(BASE + 120_000).toISOString();
    const fine = await call(sys, 'GET', `/v1/targets/${target}/metrics?from=${from}&to=${to}&step=10s&arm=a`);
    const coarse = await call(
      sys,
      'GET',
      `/v1/targets/${target}/metrics?from=${from}&to=${to}&step=1m&arm=a`,
    );
    expect(fine.status).toBe(200);
    expect(fine.body.series[0].points.length).toBeGreaterThan(coarse.body.series[0].points.length);
    expect(total(fine.body.series, (p) => p.count)).toBe(30);
    expect(total(coarse.body.series, (p) => p.count)).toBe(30);
  });

  it('names the bad query parameter', async () => {
    const r = await call(sys, 'GET', '/v1/targets/x/metrics?step=fast');
    expect(r.status).toBe(422);
    expect(r.body.errors[0].path).toBe('query.step');
    const tooFine = await call(sys, 'GET', '/v1/targets/x/metrics?step=1s');
    expect(tooFine.status).toBe(422);
    expect(tooFine.body.errors[0].path).toBe('query.step');
  });
});
