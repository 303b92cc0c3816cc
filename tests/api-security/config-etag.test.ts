/**
 * The routing config's ETag across a target's lifetimes. A target deleted and created again under the
 * same name starts over at version 1; a poller still holding the first lifetime's ETag must get the new
 * config (200), never a 304 that keeps it routing to arms that no longer exist. Over real HTTP, with the
 * cache and the fast path in front of Hono as api/main.ts serves it, and with the SDK as applications
 * poll. A PUT naming the old lifetime's ETag is refused (412).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// Before any zod schema is built (api/main.ts does the same): zod-openapi extends zod on import.
import '@hono/zod-openapi';
import { listenApi } from '../../api/server';
import { Optimizer } from '../../sdk/src/index';
import { eventually, uniqueName } from '../helpers/env';
import { call, startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
let server: Server;
let base: string;

beforeAll(async () => {
  sys = await startTestSystem({ workers: false, cache: true });
  server = await listenApi(sys.app, 0, '127.0.0.1');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await sys?.stop();
});

const firstLife = {
  arms: [
    { id: 'retired', provider: 'openai', model: 'gpt-4o' },
    { id: 'kept', provider: 'anthropic', model: 'claude-3-5-haiku' },
  ],
  weights: { retired: 10_000 },
};
const secondLife = {
  arms: [{ id: 'replacement', provider: 'anthropic', model: 'claude-3-5-sonnet' }],
  weights: { replacement: 10_000 },
};

async function recreate(name: string) {
  expect((await call(sys, 'DELETE', `/v1/targets/${name}`)).status).toBe(204);
  expect((await call(sys, 'POST', '/v1/targets', { name, ...secondLife })).status).toBe(201);
}

const fastAnswers = async () => {
  const text = await sys.deps.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith('llmopt_http_fast_path_requests_total{'));
  return line ? Number(line.split(' ').at(-1)) : 0;
};

describe('config ETags across a target deleted and created again', () => {
  it('answers 200 with the new config to a poller holding the old ETag, on both paths', async () => {
    const name = uniqueName('etag');
    expect((await call(sys, 'POST', '/v1/targets', { name, ...firstLife })).status).toBe(201);
    const key = await sys.keyFor('ingest');
    const url = `${base}/v1/targets/${name}/config`;
    const poll = (etag?: string) =>
      fetch(url, {
        headers: { authorization: `Bearer ${key}`, ...(etag ? { 'if-none-match': etag } : {}) },
      });

    const first = await poll();
    expect(first.status).toBe(200);
    const oldEtag = first.headers.get('etag')!;
    expect(await first.json()).toMatchObject({ version: 1, weights: { retired: 10_000 } });
    // The poller's steady state: the fast path answers its ETag with 304.
    const before = await fastAnswers();
    expect((await poll(oldEtag)).status).toBe(304);
    expect(await fastAnswers()).toBe(before + 1);

    await recreate(name);

    // The first poll after the change loads the new config (Hono), the next is the fast path's: both 200.
    for (const path of ['route', 'fast path']) {
      const res = await poll(oldEtag);
      expect(res.status, path).toBe(200);
      expect(await res.json(), path).toMatchObject({ version: 1, weights: { replacement: 10_000 } });
      expect(res.headers.get('etag'), path).not.toBe(oldEtag);
    }
    expect(await fastAnswers()).toBe(before + 2);
    const current = (await poll()).headers.get('etag')!;
    expect((await poll(current)).status).toBe(304);
  });

  it('refuses a PUT whose If-Match is the old lifetime ETag of the same version (412)', async () => {
    const name = uniqueName('etag');
    expect((await call(sys, 'POST', '/v1/targets', { name, ...firstLife })).status).toBe(201);
    const oldEtag = (await call(sys, 'GET', `/v1/targets/${name}/config`)).headers.get('etag')!;
    await recreate(name);

    const stale = await call(
      sys,
      'PUT',
      `/v1/targets/${name}/config`,
      { weights: { replacement: 10_000 }, reason: 'written against the deleted target' },
      { 'if-match': oldEtag },
    );
    expect(stale.status).toBe(412);
    expect(stale.body.detail).toMatch(/deleted and created again/);
    expect((await call(sys, 'GET', `/v1/targets/${name}/config/history`)).body.items).toHaveLength(1);

    const fresh = (await call(sys, 'GET', `/v1/targets/${name}/config`)).headers.get('etag')!;
    const put = await call(
      sys,
      'PUT',
      `/v1/targets/${name}/config`,
      { weights: { replacement: 10_000 }, reason: 'current' },
      { 'if-match': fresh },
    );
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ version: 2 });
  });

  it('lets the SDK move to the new config, even at a lower version than the one it held', async () => {
    const name = uniqueName('etag');
    expect((await call(sys, 'POST', '/v1/targets', { name, ...firstLife })).status).toBe(201);
    // The first lifetime reaches version 2, so the second one's version 1 is lower than what the SDK holds.
    const etag = (await call(sys, 'GET', `/v1/targets/${name}/config`)).headers.get('etag')!;
    const put = await call(
      sys,
      'PUT',
      `/v1/targets/${name}/config`,
      { weights: { retired: 5_000, kept: 5_000 }, reason: 'split' },
      { 'if-match': etag },
    );
    expect(put.status).toBe(200);
    const sdk = new Optimizer({ baseUrl: base, apiKey: await sys.keyFor('ingest'), refreshIntervalMs: 50 });
    try {
      expect(await sdk.config(name)).toMatchObject({ version: 2 });
      await recreate(name);
      const moved = await eventually(
        async () => {
          const c = await sdk.config(name);
          return c?.weights.replacement === 10_000 ? c : undefined;
        },
        { timeoutMs: 10_000, what: 'the SDK serving the re-created target' },
      );
      expect(moved).toMatchObject({ version: 1, weights: { replacement: 10_000 } });
      expect((await sdk.assign(name, 'default', 'user-1')).arm).toBe('replacement');
    } finally {
      await sdk.close(1_000);
    }
  });
});
