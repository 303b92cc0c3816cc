/**
 * The SDK as an application uses it: against the real API served over HTTP on an ephemeral port (real
 * PostgreSQL and Redis behind it), and against local HTTP servers where a failure must be staged (a busy
 * ingest endpoint, a dead one).
 */
// First: zod-openapi must extend zod before domain/ builds its schemas (see api/main.ts).
import '@hono/zod-openapi';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignArm as serverAssignArm } from '../../domain/routing';
import { createApiKeysRepo } from '../../adapters/db/repos/api-keys';
import { eventually, uniqueName } from '../../tests/helpers/env';
import { startTestSystem, type TestSystem } from '../../tests/helpers/system';
import { createOptimizer, type OptimizerError } from '../src/index';
import { testArm } from '../../tests/helpers/rollout';

let sys: TestSystem;
let server: ReturnType<typeof serve>;
let baseUrl: string;
let apiKey: string;

const arms = [testArm('large', 'openai', 'gpt-4o'), testArm('small', 'anthropic', 'claude-3-5-haiku')];

beforeAll(async () => {
  sys = await startTestSystem({ workers: false, cache: true, ingest: { name: uniqueName('sdk-ingest') } });
  server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: sys.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  apiKey = (
    await createApiKeysRepo(sys.deps.db).create({
      name: uniqueName('sdk-app'),
      roles: ['ingest'],
      createdBy: 'sdk-test',
    })
  ).key;
});
afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await sys?.stop();
});

async function newTarget(weights: Record<string, number>): Promise<string> {
  const name = uniqueName('sdk');
  await sys.deps.repos.targets.create({
    name,
    description: '',
    policy: { quality_floor: 0.95, latency_slo_percentile: 'p95', require_approval: false } as never,
    arms,
    segments: ['default', 'summarize'],
    weights,
  });
  return name;
}

/**
 * A local HTTP server that records ingest batches (POST /v1/events) and answers them as `respond` says;
 * every other request goes through to the real API, so routing stays real.
 */
async function ingestServer(
  respond: (n: number, req: IncomingMessage, res: ServerResponse, body: unknown[]) => void,
) {
  const batches: unknown[][] = [];
  const srv: Server = createServer((req, res) => {
    if (req.method !== 'POST') {
      void fetch(`${baseUrl}${req.url}`, {
        headers: {
          authorization: req.headers.authorization ?? '',
          'if-none-match': req.headers['if-none-match'] ?? '',
        },
      }).then(async (upstream) => {
        res.writeHead(upstream.status, Object.fromEntries(upstream.headers));
        res.end(Buffer.from(await upstream.arrayBuffer()));
      });
      return;
    }
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const body = JSON.parse(raw) as unknown[];
      batches.push(body);
      respond(batches.length, req, res, body);
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    batches,
    close: () => new Promise<void>((resolve) => srv.close(() => resolve())),
  };
}

const accepted = (res: ServerResponse, body: unknown[]) => {
  res.writeHead(202, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ accepted: body.length, rejected: 0, errors: [] }));
};

describe('routing through the real API', () => {
  it('keeps a key on one arm and splits many keys by the weights', async () => {
    const target = await newTarget({ large: 3000, small: 7000 });
    const optimizer = createOptimizer({ baseUrl, apiKey });
    const first = await optimizer.assign(target, 'default', 'user-1');
    expect(first.configVersion).toBe(1);
    for (let i = 0; i < 20; i++)
      expect((await optimizer.assign(target, 'default', 'user-1')).arm).toBe(first.arm);

    const counts: Record<string, number> = { large: 0, small: 0 };
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const a = optimizer.assignCached(target, 'default', `user-${i}`);
      counts[a.arm] = (counts[a.arm] ?? 0) + 1;
      if (i % 997 === 0) expect(a.arm).toBe(serverAssignArm({ large: 3000, small: 7000 }, `user-${i}`));
    }
    // Binomial sd at n = 20,000 and p = 0.3 is 0.0032: ±0.02 is over six sd.
    expect(counts.large! / n).toBeGreaterThan(0.28);
    expect(counts.large! / n).toBeLessThan(0.32);
    expect(optimizer.stats().configs.fetched).toBe(1);
    await optimizer.close();
  });

  it('refreshes with If-None-Match: 304 while unchanged, the new version once it changes', async () => {
    const target = await newTarget({ large: 10_000 });
    const optimizer = createOptimizer({ baseUrl, apiKey, refreshIntervalMs: 60_000 });
    expect((await optimizer.config(target, 'summarize'))?.version).toBe(1);
    await optimizer.refresh();
    expect(optimizer.stats().configs).toMatchObject({ fetched: 1, notModified: 1, failed: 0 });

    await sys.deps.repos.targets.appendConfig({
      target,
      segment: 'summarize',
      expectedVersion: 1,
      weights: { large: 5000, small: 5000 },
      rolloutId: null,
      reason: 'canary 50%',
    });
    await optimizer.refresh();
    const cfg = await optimizer.config(target, 'summarize');
    expect(cfg).toMatchObject({ version: 2, weights: { large: 5000, small: 5000 } });
    expect(optimizer.stats().configs.fetched).toBe(2);
    await optimizer.close();
  });

  it('refreshes in the background without being asked', async () => {
    const target = await newTarget({ large: 10_000 });
    const optimizer = createOptimizer({ baseUrl, apiKey, refreshIntervalMs: 50 });
    expect((await optimizer.assign(target, 'default', 'k')).arm).toBe('large');
    await sys.deps.repos.targets.appendConfig({
      target,
      segment: 'default',
      expectedVersion: 1,
      weights: { small: 10_000 },
      rolloutId: null,
      reason: 'switch',
    });
    await eventually(async () => optimizer.assignCached(target, 'default', 'k').arm === 'small', {
      what: 'the background refresh',
    });
    await optimizer.close();
  });
});

describe('telemetry', () => {
  it('records latency, status and tokens of a tracked call and sends events in batches', async () => {
    const ingest = await ingestServer((_n, _req, res, body) => accepted(res, body));
    const target = await newTarget({ large: 10_000 });
    const reporter = createOptimizer({
      baseUrl: ingest.url,
      apiKey,
      maxBatchSize: 10,
      flushIntervalMs: 60_000,
    });
    expect((await reporter.config(target))?.version).toBe(1);

    for (let i = 0; i < 25; i++) {
      const answer = await reporter.track(target, 'default', `user-${i}`, async (arm) => ({
        id: `req-${i}`,
        model: arm === 'large' ? 'gpt-4o' : 'other',
        usage: { prompt_tokens: 100 + i, completion_tokens: 20 },
      }));
      expect(answer.id).toBe(`req-${i}`);
    }
    await expect(
      reporter.track(target, 'default', 'user-x', async () => {
        throw Object.assign(new Error('slow down'), { status: 429 });
      }),
    ).rejects.toThrow('slow down');
    await reporter.flush();

    // 26 events in batches of at most 10.
    expect(ingest.batches.map((b) => b.length)).toEqual([10, 10, 6]);
    const events = ingest.batches.flat() as Record<string, unknown>[];
    expect(events[0]).toMatchObject({
      type: 'llm.request',
      target,
      segment: 'default',
      arm: 'large',
      config_version: 1,
      request_id: 'req-0',
      model: 'gpt-4o',
      input_tokens: 100,
      output_tokens: 20,
      status: 'ok',
    });
    expect(typeof events[0]!.latency_ms).toBe('number');
    expect(events.at(-1)).toMatchObject({ status: 'rate_limited', error_type: 'Error:429' });
    expect(new Set(events.map((e) => e.id)).size).toBe(26);
    expect(reporter.stats()).toMatchObject({ sent: 26, dropped: 0, buffered: 0 });
    await reporter.close();
    await ingest.close();
  });

  it('delivers tracked calls to the real ingest endpoint, and reports the events it refuses', async () => {
    const target = await newTarget({ large: 5000, small: 5000 });
    const errors: OptimizerError[] = [];
    const optimizer = createOptimizer({
      baseUrl,
      apiKey,
      maxBatchSize: 20,
      flushIntervalMs: 60_000,
      onError: (e) => errors.push(e),
    });
    for (let i = 0; i < 45; i++) {
      await optimizer.track(
        target,
        'default',
        `user-${i}`,
        async () => ({ usage: { input_tokens: 50, output_tokens: 10 } }),
        {
          provider: 'test',
        },
      );
    }
    optimizer.report({
      type: 'llm.request',
      target,
      request_id: 'bad',
      model: 'm',
      provider: 'p',
      latency_ms: -5,
      input_tokens: 1,
      output_tokens: 1,
    });
    await optimizer.flush();
    expect(optimizer.stats()).toMatchObject({ sent: 45, rejected: 1, dropped: 0, buffered: 0, requests: 3 });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ kind: 'rejected' });
    expect(JSON.stringify(errors[0]!.details.rejected)).toContain('latency_ms');
    await optimizer.close();
  });

  it('retries a busy server with backoff and delivers every event once', async () => {
    const ingest = await ingestServer((n, _req, res, body) => {
      if (n <= 2) {
        res.writeHead(503, { 'content-type': 'application/problem+json' });
        res.end('{"title":"busy"}');
      } else accepted(res, body);
    });
    const errors: OptimizerError[] = [];
    const optimizer = createOptimizer({
      baseUrl: ingest.url,
      retryBaseMs: 5,
      onError: (e) => errors.push(e),
    });
    for (let i = 0; i < 5; i++)
      optimizer.report({ type: 'user.feedback', target: 't', request_id: `r${i}`, thumbs: 'up' });
    await optimizer.flush();
    expect(ingest.batches).toHaveLength(3);
    expect(ingest.batches[2]).toEqual(ingest.batches[0]);
    expect(optimizer.stats()).toMatchObject({ sent: 5, dropped: 0, requests: 3 });
    expect(errors).toEqual([]);
    await optimizer.close();
    await ingest.close();
  });

  it('keeps the buffer bounded by dropping the oldest events, and counts them', async () => {
    const errors: OptimizerError[] = [];
    const dead = await ingestServer(() => undefined);
    await dead.close();
    const optimizer = createOptimizer({
      baseUrl: dead.url,
      maxBufferSize: 100,
      maxBatchSize: 1000,
      flushIntervalMs: 60_000,
      onError: (e) => errors.push(e),
    });
    for (let i = 0; i < 250; i++)
      optimizer.report({ type: 'user.feedback', target: 't', request_id: `r${i}` });
    expect(optimizer.stats()).toMatchObject({ buffered: 100, dropped: 150 });
    expect(errors.filter((e) => e.kind === 'overflow')).toHaveLength(150);
    await optimizer.close(0);
  });
});

describe('when the API is down', () => {
  it('never throws into the application: the fallback arm serves and errors go to onError', async () => {
    const dead = await ingestServer(() => undefined);
    await dead.close();
    const errors: OptimizerError[] = [];
    const optimizer = createOptimizer({
      baseUrl: dead.url,
      fallbackArm: 'large',
      retryBaseMs: 1,
      maxRetries: 2,
      onError: (e) => {
        errors.push(e);
        throw new Error('a broken error handler must not escape either');
      },
    });
    const result = await optimizer.track(
      'support-bot',
      'default',
      'user-1',
      async (arm) => `answered by ${arm}`,
    );
    expect(result).toBe('answered by large');
    expect(optimizer.assignCached('support-bot', 'default', 'user-1').arm).toBe('large');
    expect(await optimizer.config('support-bot')).toBeUndefined();
    await optimizer.flush();
    expect(errors.map((e) => e.kind)).toEqual(expect.arrayContaining(['config', 'telemetry']));
    expect(optimizer.stats()).toMatchObject({ sent: 0, dropped: 1, requests: 3 });
    await optimizer.close();
  });

  it('keeps serving the last known config when the API goes away', async () => {
    const target = await newTarget({ small: 10_000 });
    let up = true;
    const optimizer = createOptimizer({
      baseUrl,
      apiKey,
      refreshIntervalMs: 60_000,
      fetch: (input, init) => (up ? fetch(input, init) : Promise.reject(new TypeError('fetch failed'))),
      onError: () => undefined,
    });
    expect((await optimizer.assign(target, 'default', 'u')).arm).toBe('small');
    up = false;
    await optimizer.refresh();
    expect(await optimizer.assign(target, 'default', 'u')).toMatchObject({ arm: 'small', configVersion: 1 });
    expect(optimizer.stats().configs.failed).toBe(1);
    await optimizer.close();
  });
});
