/**
 * The config read's fast path (api/routes/targets/config-read.ts) over real HTTP, PostgreSQL and Redis,
 * served as api/main.ts serves it (api/server.ts): a repeat poll answered from memory carries the same
 * status, body and headers as the Hono route's answer, counts in the same metrics and spends the same
 * rate-limit cell; every other case -- no credential, a revoked key, a role without the permission, a
 * refusal of the limiter, CORS, repeated credentials, HEAD -- is answered by Hono exactly as before.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import type { ApiDeps } from '../../api/lib/types';
import { listenApi } from '../../api/server';
import { createCachedTargetsRepo, createSharedState, type SharedState } from '../../adapters/cache';
import { createMetrics } from '../../platform/metrics';
import { testEnv, uniqueName } from '../helpers/env';
import { call, startTestSystem, type TestSystem } from '../helpers/system';

const SECRET = 'fast-path-test-secret-of-32-bytes!!';
const ISSUER = 'https://issuer.test';
const AUDIENCE = 'llmopt-fast-path';
const arms = [
  { id: 'large', provider: 'openai', model: 'gpt-4o' },
  { id: 'small', provider: 'anthropic', model: 'claude-3-5-haiku' },
];

let sys: TestSystem;
const servers: Server[] = [];
const states: SharedState[] = [];

beforeAll(async () => {
  // With the routing-config cache, as api/main.ts has it: the fast path answers from its first tier.
  sys = await startTestSystem({ workers: false, cache: true });
});
afterAll(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
  for (const s of states) await s.close();
  await sys?.stop();
});

/**
 * A replica beside the test system's API, as another API process would be: its own invalidation bus,
 * routing-config cache, limiter and metrics over the same PostgreSQL and Redis, listening on a free port.
 */
async function serve(env: Partial<ApiDeps['env']> = {}) {
  const metrics = createMetrics('api-test');
  const state = createSharedState(testEnv, sys.deps.logger);
  states.push(state);
  await state.bus.ready();
  const cached = createCachedTargetsRepo(sys.deps.db, state, {
    registry: metrics.registry,
    logger: sys.deps.logger,
  });
  const deps: ApiDeps = {
    ...sys.deps,
    metrics,
    bus: state.bus,
    redis: state.redis!,
    repos: { ...sys.deps.repos, targets: cached.targets },
    caches: { routingConfigs: cached.routingConfigs },
    env: {
      ...testEnv,
      AUTH_JWT_HS256_SECRET: SECRET,
      AUTH_JWT_ISSUER: ISSUER,
      AUTH_JWT_AUDIENCE: AUDIENCE,
      ...env,
    },
  };
  const server = await listenApi(createApp(deps), 0, '127.0.0.1');
  servers.push(server);
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const metric = async (name: string, labels: string) => {
    const text = await deps.metrics.registry.metrics();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };
  return {
    base,
    /** Requests the fast path answered so far. */
    fast: () => metric('llmopt_http_fast_path_requests_total', ''),
    counted: (status: number) =>
      metric('llmopt_http_requests_total', `route="/v1/targets/:target/config",status="${status}"`),
  };
}

async function newTarget(): Promise<string> {
  const name = uniqueName('fast');
  expect((await call(sys, 'POST', '/v1/targets', { name, arms })).status).toBe(201);
  return name;
}

const VARYING = new Set(['date', 'x-request-id', 'ratelimit', 'ratelimit-remaining', 'ratelimit-reset']);
const fixedHeaders = (h: Headers) =>
  Object.fromEntries(
    [...h.entries()].filter(([k]) => !VARYING.has(k)).sort(([a], [b]) => a.localeCompare(b)),
  );

const token = (roles: string[]) =>
  new SignJWT({ roles })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('svc')
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRET));

describe('config read fast path', () => {
  it('answers a repeat poll as the route does: same status, body and headers; 304 on its ETag', async () => {
    const api = await serve({ API_RATE_LIMIT_PER_MINUTE: 600 }); // leases of 6 cells
    const name = await newTarget();
    const key = await sys.keyFor('ingest');
    const url = `${api.base}/v1/targets/${name}/config?segment=default`;
    const auth = { authorization: `Bearer ${key}` };

    const viaHono = await fetch(url, { headers: auth });
    expect(viaHono.status).toBe(200);
    expect(await api.fast()).toBe(0);
    const viaFastPath = await fetch(url, { headers: { ...auth, 'x-request-id': 'poll-7' } });
    expect(await api.fast()).toBe(1);

    expect(viaFastPath.status).toBe(200);
    expect(await viaFastPath.text()).toBe(await viaHono.text());
    expect(fixedHeaders(viaFastPath.headers)).toEqual(fixedHeaders(viaHono.headers));
    expect(viaFastPath.headers.get('x-request-id')).toBe('poll-7');
    // One allowance: the second answer reports one cell fewer than the first (or as many, when GCRA gave
    // one back meanwhile, every 100 ms at 600 a minute).
    const remaining = (r: Response) => Number(r.headers.get('ratelimit-remaining'));
    expect(remaining(viaFastPath)).toBeGreaterThanOrEqual(remaining(viaHono) - 1);
    expect(remaining(viaFastPath)).toBeLessThanOrEqual(remaining(viaHono));

    // A caller's id that could forge log lines is replaced, as the route replaces it.
    const odd = await fetch(url, { headers: { ...auth, 'x-request-id': 'two words' } });
    expect(odd.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);

    // 304: the Hono answer (first request of this URL) and the fast one agree as well.
    const etag = viaHono.headers.get('etag')!;
    const other = `${api.base}/v1/targets/${name}/config`;
    const hono304 = await fetch(other, { headers: { ...auth, 'if-none-match': etag } });
    const fast304 = await fetch(other, { headers: { ...auth, 'if-none-match': etag } });
    expect(await api.fast()).toBe(3);
    expect([hono304.status, fast304.status]).toEqual([304, 304]);
    expect(fixedHeaders(fast304.headers)).toEqual(fixedHeaders(hono304.headers));
    expect(await fast304.text()).toBe('');

    // Both paths count in the request metrics.
    expect(await api.counted(200)).toBe(3);
    expect(await api.counted(304)).toBe(2);
  });

  it('serves a new version as soon as it is written', async () => {
    const api = await serve();
    const name = await newTarget();
    const key = await sys.keyFor('ingest');
    const url = `${api.base}/v1/targets/${name}/config`;
    const read = async () => (await fetch(url, { headers: { authorization: `Bearer ${key}` } })).json();
    expect(await read()).toMatchObject({ version: 1 });
    expect(await read()).toMatchObject({ version: 1 });
    const current = await call(sys, 'GET', `/v1/targets/${name}/config`);
    const put = await call(
      sys,
      'PUT',
      `/v1/targets/${name}/config`,
      { weights: { large: 5000, small: 5000 }, reason: 'test' },
      { 'if-match': current.headers.get('etag')! },
    );
    expect(put.status).toBe(200);
    await expect.poll(read, { timeout: 2_000 }).toMatchObject({ version: 2, weights: { small: 5000 } });
    // The new version loaded once, repeat polls are answered from memory again.
    const fastBefore = await api.fast();
    expect(await read()).toMatchObject({ version: 2 });
    expect(await api.fast()).toBe(fastBefore + 1);
  });

  it('leaves every refusal to the route: no credential, revoked key, a role without the permission', async () => {
    const api = await serve();
    const name = await newTarget();
    const url = `${api.base}/v1/targets/${name}/config`;
    const created = await call(sys, 'POST', '/v1/api-keys', { name: 'revoke me', roles: ['ingest'] });
    expect(created.status).toBe(201);
    const auth = { authorization: `Bearer ${created.body.key}` };
    for (let i = 0; i < 2; i++) expect((await fetch(url, { headers: auth })).status).toBe(200);
    const served = await api.fast();
    expect(served).toBe(1);

    const anonymous = await fetch(url);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('content-type')).toBe('application/problem+json');

    expect((await call(sys, 'DELETE', `/v1/api-keys/${created.body.id}`)).status).toBe(200);
    await expect.poll(async () => (await fetch(url, { headers: auth })).status, { timeout: 2_000 }).toBe(401);

    // A verified token whose roles lack config:read: cached, yet still refused with the route's 403.
    const roleless = { authorization: `Bearer ${await token([])}` };
    for (let i = 0; i < 2; i++) {
      const res = await fetch(url, { headers: roleless });
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({ required_permission: 'config:read' });
    }
    const reader = { authorization: `Bearer ${await token(['analyst'])}` };
    for (let i = 0; i < 2; i++) expect((await fetch(url, { headers: reader })).status).toBe(200);
    expect(await api.fast()).toBe(served + 1);
  });

  it('spends the shared allowance and leaves the 429 to the route', async () => {
    const api = await serve({ API_RATE_LIMIT_PER_MINUTE: 600 }); // leases of 6 cells
    const name = await newTarget();
    const key = await sys.keyFor('ingest');
    const url = `${api.base}/v1/targets/${name}/config`;
    let allowed = 0;
    let refused: Response | undefined;
    for (let i = 0; i < 700 && !refused; i++) {
      const res = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
      if (res.status === 429) refused = res;
      else {
        expect(res.status).toBe(200);
        allowed++;
      }
      await res.arrayBuffer();
    }
    expect(refused?.headers.get('content-type')).toBe('application/problem+json');
    expect(Number(refused?.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused?.headers.get('ratelimit-remaining')).toBe('0');
    // The burst is the minute's allowance, plus what GCRA refilled meanwhile and what one lease holds.
    expect(allowed).toBeGreaterThanOrEqual(600 - 6);
    expect(allowed).toBeLessThanOrEqual(600 + 60 + 6 + 1);
    expect(await api.fast()).toBeGreaterThan(allowed / 2);
  });

  it('leaves CORS, HEAD and repeated Authorization headers to the route', async () => {
    const api = await serve({ API_CORS_ORIGINS: 'https://console.example.com' });
    const name = await newTarget();
    const key = await sys.keyFor('ingest');
    const path = `/v1/targets/${name}/config`;
    const auth = { authorization: `Bearer ${key}` };
    for (let i = 0; i < 2; i++)
      expect((await fetch(`${api.base}${path}`, { headers: auth })).status).toBe(200);
    const served = await api.fast();

    const cors = await fetch(`${api.base}${path}`, {
      headers: { ...auth, origin: 'https://console.example.com' },
    });
    expect(cors.status).toBe(200);
    expect(cors.headers.get('access-control-allow-origin')).toBe('https://console.example.com');

    const head = await fetch(`${api.base}${path}`, { method: 'HEAD', headers: auth });
    expect(head.status).toBe(200);

    // Two Authorization headers: node:http keeps the first, Hono joins both and refuses the result.
    const { port } = new URL(api.base);
    const raw = await new Promise<string>((resolve, reject) => {
      // Written, not ended: the server closes after its answer (Connection: close).
      const socket = connect(Number(port), '127.0.0.1', () =>
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${key}\r\n` +
            `Authorization: Bearer ${key}\r\nConnection: close\r\n\r\n`,
        ),
      );
      let out = '';
      socket.on('data', (d: Buffer) => (out += d.toString()));
      socket.on('end', () => resolve(out));
      socket.on('error', reject);
    });
    expect(raw.split('\r\n')[0]).toBe('HTTP/1.1 401 Unauthorized');
    expect(await api.fast()).toBe(served);
  });
});
