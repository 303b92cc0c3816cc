/**
 * Conventions that protect callers from each other and from themselves: rate limits per identity,
 * CORS from an allow-list, Idempotency-Key replays, If-Match on updates, and bad input answered with
 * a 4xx naming the field, never a 5xx.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { testEnv, uniqueName } from '../helpers/env';
import { call, startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ workers: false });
});
afterAll(async () => {
  await sys?.stop();
});

const arms = [
  { id: 'big', provider: 'openai', model: 'gpt-4o' },
  { id: 'small', provider: 'openai', model: 'gpt-4o-mini' },
];
async function newTarget() {
  const name = uniqueName('hard');
  expect((await call(sys, 'POST', '/v1/targets', { name, arms })).status).toBe(201);
  return name;
}

describe('rate limiting', () => {
  it('answers 429 with Retry-After and RateLimit headers once an identity spends its allowance, per identity', async () => {
    const app = createApp({
      ...sys.deps,
      env: { ...testEnv, API_RATE_LIMIT_PER_MINUTE: 3, API_RATE_LIMIT_ANONYMOUS_PER_MINUTE: 2 },
    });
    const analyst = await sys.keyFor('analyst');
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 4; i++) {
      last = await call({ app }, 'GET', '/v1/targets?limit=1', undefined, {}, { auth: analyst });
      statuses.push(last.status);
      if (i === 0) {
        expect(last.headers.get('ratelimit-limit')).toBe('3');
        expect(last.headers.get('ratelimit-remaining')).toBe('2');
        expect(last.headers.get('ratelimit-policy')).toBe('3;w=60');
      }
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(Number(last?.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(last?.headers.get('ratelimit-remaining')).toBe('0');
    expect(last?.body.type).toContain('rate-limited');
    // Another identity has its own allowance.
    expect(
      (
        await call(
          { app },
          'GET',
          '/v1/targets?limit=1',
          undefined,
          {},
          { auth: await sys.keyFor('analyst') },
        )
      ).status,
    ).toBe(200);
    // Anonymous callers are limited by address, failed logins included; health probes are exempt.
    const anon = [];
    for (let i = 0; i < 3; i++)
      anon.push((await call({ app }, 'GET', '/v1/targets', undefined, {}, { auth: 'llmo_nope' })).status);
    expect(anon).toEqual([401, 401, 429]);
    expect((await call({ app }, 'GET', '/healthz', undefined, {}, { auth: false })).status).toBe(200);
  });
});

describe('CORS', () => {
  it('answers preflights and requests for allowed origins only', async () => {
    const app = createApp({
      ...sys.deps,
      env: { ...testEnv, API_CORS_ORIGINS: 'https://console.example.com' },
    });
    const ok = await app.request('/v1/targets', {
      method: 'OPTIONS',
      headers: {
        origin: 'https://console.example.com',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://console.example.com');
    expect(ok.headers.get('access-control-allow-headers')).toContain('authorization');
    const evil = await app.request('/v1/targets', {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    const actual = await call({ app }, 'GET', '/v1/targets?limit=1', undefined, {
      origin: 'https://console.example.com',
    });
    expect(actual.headers.get('access-control-allow-origin')).toBe('https://console.example.com');
    expect(actual.headers.get('access-control-expose-headers')).toContain('etag');
  });

  it('sends secure headers', async () => {
    const r = await call(sys, 'GET', '/healthz');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(r.headers.get('x-frame-options')).toBeTruthy();
    expect(r.headers.get('x-request-id')).toBeTruthy();
  });
});

describe('Idempotency-Key', () => {
  it('returns the first result to a repeat, refuses the key for another request, and keeps keys per identity', async () => {
    const key = uniqueName('idem');
    const name = uniqueName('idem-target');
    const first = await call(sys, 'POST', '/v1/targets', { name, arms }, { 'idempotency-key': key });
    expect(first.status).toBe(201);
    const again = await call(sys, 'POST', '/v1/targets', { name, arms }, { 'idempotency-key': key });
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('location')).toBe(`/v1/targets/${name}`);
    // Without the key the same request is a duplicate.
    expect((await call(sys, 'POST', '/v1/targets', { name, arms })).status).toBe(409);
    const other = await call(
      sys,
      'POST',
      '/v1/targets',
      { name: uniqueName('other'), arms },
      { 'idempotency-key': key },
    );
    expect(other.status).toBe(422);
    expect(other.body.errors[0].path).toBe('header.idempotency-key');
    const bad = await call(sys, 'POST', '/v1/targets', { name, arms }, { 'idempotency-key': 'has spaces' });
    expect(bad.status).toBe(400);
    // The same key from another identity is a different request.
    const operator = await sys.keyFor('operator');
    const theirs = await call(
      sys,
      'POST',
      '/v1/targets',
      { name: uniqueName('theirs'), arms },
      { 'idempotency-key': key },
      { auth: operator },
    );
    expect(theirs.status).toBe(201);
  });

  it('starts one optimization cycle for two identical trigger requests', async () => {
    const target = await newTarget();
    const key = uniqueName('cycle');
    const a = await call(sys, 'POST', '/v1/optimizations', { target }, { 'idempotency-key': key });
    const b = await call(sys, 'POST', '/v1/optimizations', { target }, { 'idempotency-key': key });
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(b.body.id).toBe(a.body.id);
    await sys.client.workflow
      .getHandle(a.body.id)
      .terminate('test done')
      .catch(() => undefined);
  });
});

describe('If-Match on configuration updates', () => {
  it('requires If-Match (428), refuses a stale one (412), and applies a current one', async () => {
    const name = await newTarget();
    const read = await call(sys, 'GET', `/v1/targets/${name}`);
    const etag = read.headers.get('etag')!;
    expect(etag).toBe('"r1"');
    const missing = await call(sys, 'PATCH', `/v1/targets/${name}`, { description: 'new' });
    expect(missing.status).toBe(428);
    expect(missing.body.errors[0].path).toBe('header.if-match');
    const ok = await call(sys, 'PATCH', `/v1/targets/${name}`, { description: 'new' }, { 'if-match': etag });
    expect(ok.status).toBe(200);
    expect(ok.body.description).toBe('new');
    expect(ok.headers.get('etag')).toBe('"r2"');
    const stale = await call(
      sys,
      'PATCH',
      `/v1/targets/${name}`,
      { description: 'lost update' },
      { 'if-match': etag },
    );
    expect(stale.status).toBe(412);
    expect((await call(sys, 'GET', `/v1/targets/${name}`)).body.description).toBe('new');
    expect(
      (await call(sys, 'PATCH', `/v1/targets/${name}`, { description: 'x' }, { 'if-match': 'garbage' }))
        .status,
    ).toBe(412);
  });

  it('writes a routing config only at the version it was read at', async () => {
    const name = await newTarget();
    const cfg = await call(sys, 'GET', `/v1/targets/${name}/config`);
    const etag = cfg.headers.get('etag')!;
    const weights = { big: 9000, small: 1000 };
    expect((await call(sys, 'PUT', `/v1/targets/${name}/config`, { weights })).status).toBe(428);
    const put = await call(
      sys,
      'PUT',
      `/v1/targets/${name}/config`,
      { weights, reason: 'manual trial' },
      { 'if-match': etag },
    );
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ version: 2, weights, reason: 'manual trial' });
    expect(
      (await call(sys, 'PUT', `/v1/targets/${name}/config`, { weights }, { 'if-match': etag })).status,
    ).toBe(412);
    const wrong = await call(
      sys,
      'PUT',
      `/v1/targets/${name}/config`,
      { weights: { big: 5000, ghost: 5000 } },
      { 'if-match': put.headers.get('etag')! },
    );
    expect(wrong.status).toBe(422);
    expect(wrong.body.errors[0].path).toBe('weights.ghost');
    const sum = await call(
      sys,
      'PUT',
      `/v1/targets/${name}/config`,
      { weights: { big: 1 } },
      { 'if-match': put.headers.get('etag')! },
    );
    expect(sum.status).toBe(422);
    expect(sum.body.errors[0].path).toBe('weights');
  });
});

describe('bad input', () => {
  it.each([
    ['malformed JSON', '{"name": ', 400, undefined],
    ['a wrong type', JSON.stringify({ name: 42, arms }), 422, 'name'],
    ['an unknown field', JSON.stringify({ name: 'x-ok', arms, admin: true }), 422, '(root)'],
    [
      'a huge number',
      JSON.stringify({ name: 'x-ok', arms: [{ ...arms[0], prompt_version: 1e308 }] }),
      422,
      'arms[0].prompt_version',
    ],
    [
      'a number beyond float range',
      `{"name":"x-ok","arms":[{"id":"a","provider":"p","model":"m","params":{"temperature":1e999}}]}`,
      422,
      'arms[0].params.temperature',
    ],
    ['a deeply nested body', `${'['.repeat(5000)}${']'.repeat(5000)}`, 422, '(root)'],
    ['a path-like name', JSON.stringify({ name: '../../etc/passwd', arms }), 422, 'name'],
  ])('answers %s with a 4xx naming the field', async (_what, body, status, path) => {
    const r = await call(sys, 'POST', '/v1/targets', body, { 'content-type': 'application/json' });
    expect(r.status).toBe(status);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    if (path) expect(r.body.errors.map((e: { path: string }) => e.path)).toContain(path);
  });

  it('answers invalid UTF-8 with 4xx', async () => {
    const bytes = Buffer.concat([
      Buffer.from('{"name":"'),
      Buffer.from([0xff, 0xfe, 0xc3]),
      Buffer.from('","arms":[]}'),
    ]);
    const res = await sys.app.request('/v1/targets', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${sys.adminKey}` },
      body: bytes,
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
  });

  it('answers an oversized body with 413', async () => {
    const app = createApp({ ...sys.deps, env: { ...testEnv, API_MAX_BODY_BYTES: 1024 } });
    const r = await call({ app }, 'POST', '/v1/targets', {
      name: 'x-big',
      description: 'x'.repeat(5000),
      arms,
    });
    expect(r.status).toBe(413);
  });

  it('answers path traversal in ids with 400 naming the parameter', async () => {
    for (const path of [
      '/v1/targets/..%2F..%2Fetc%2Fpasswd',
      '/v1/targets/x/arms/..%2Fsecrets',
      '/v1/api-keys/..%2F..',
      '/v1/targets/x/config/versions/..%2F1',
    ]) {
      const r = await call(sys, 'GET', path);
      expect(r.status, path).toBe(400);
      expect(r.body.errors[0].path, path).toMatch(/^param\./);
    }
  });
});
