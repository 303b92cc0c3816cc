/**
 * Every change the use cases of targets, prices and API keys make (app/targets.ts, app/prices.ts,
 * app/keys.ts) is recorded once in the audit log (app/audit.ts reads it back) with the authenticated
 * caller as its actor; a key's creator is that caller too, and nothing a body says can name another.
 */
// First: zod-openapi must extend zod before any domain schema is built.
import '@hono/zod-openapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueName } from '../helpers/env';
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

describe('who changed what', () => {
  it('records each change once, with the caller as actor, and the caller as a key creator', async () => {
    // The caller: a key of its own, made by the system's admin.
    const name = uniqueName('auditor');
    const made = await call(sys, 'POST', '/v1/api-keys', { name, roles: ['admin'] });
    expect(made.status).toBe(201);
    const actor = `key:${made.body.prefix}`;
    const as = { auth: made.body.key as string };
    const by = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
      call(sys, method, path, body, headers, as);

    const target = uniqueName('audited');
    const base = `/v1/targets/${target}`;
    expect((await by('POST', '/v1/targets', { name: target, arms })).status).toBe(201);
    const etag = (await by('GET', base)).headers.get('etag')!;
    const patched = await by('PATCH', base, { description: 'audited' }, { 'if-match': etag });
    expect(patched.status).toBe(200);
    const configEtag = (await by('GET', `${base}/config`)).headers.get('etag')!;
    const weights = { big: 6_000, small: 4_000 };
    expect((await by('PUT', `${base}/config`, { weights }, { 'if-match': configEtag })).status).toBe(200);
    // Refused input changes nothing, and is not recorded as a change.
    expect((await by('PUT', `${base}/config`, { weights }, { 'if-match': configEtag })).status).toBe(412);
    expect((await by('POST', `${base}/segments`, { name: 'summarize' })).status).toBe(201);
    expect((await by('DELETE', `${base}/segments/summarize`)).status).toBe(204);
    const arm = { id: 'mini', provider: 'openai', model: 'gpt-4o-mini' };
    expect((await by('POST', `${base}/arms`, arm)).status).toBe(201);
    const revision = (await by('GET', base)).headers.get('etag')!;
    const armPatch = { model: 'gpt-4.1-mini' };
    expect((await by('PATCH', `${base}/arms/mini`, armPatch, { 'if-match': revision })).status).toBe(200);
    expect((await by('DELETE', `${base}/arms/mini`)).status).toBe(204);
    const model = uniqueName('model');
    const price = { input_usd_per_mtok: 1, output_usd_per_mtok: 2 };
    expect((await by('PUT', `/v1/prices/${model}`, price)).status).toBe(200);

    // A key this caller makes names it as creator; a body naming someone else is refused.
    const forged = await by('POST', '/v1/api-keys', { name: 'x', roles: ['ingest'], created_by: 'someone' });
    expect(forged.status).toBe(422);
    const child = await by('POST', '/v1/api-keys', { name: uniqueName('child'), roles: ['ingest'] });
    expect(child.status).toBe(201);
    expect(child.body.created_by).toBe(actor);
    expect((await by('DELETE', `/v1/api-keys/${child.body.id}`)).status).toBe(200);
    expect((await by('DELETE', base)).status).toBe(204);

    const log = await call(sys, 'GET', `/v1/audit?actor=${encodeURIComponent(actor)}&limit=100`);
    expect(log.status).toBe(200);
    const entries = log.body.items as {
      action: string;
      actor: string;
      outcome: string;
      details: { actor_name?: string };
    }[];
    expect(entries.map((e) => e.action).reverse()).toEqual([
      'POST /v1/targets',
      'PATCH /v1/targets/{target}',
      'PUT /v1/targets/{target}/config',
      'POST /v1/targets/{target}/segments',
      'DELETE /v1/targets/{target}/segments/{segment}',
      'POST /v1/targets/{target}/arms',
      'PATCH /v1/targets/{target}/arms/{arm}',
      'DELETE /v1/targets/{target}/arms/{arm}',
      'PUT /v1/prices/**',
      'POST /v1/api-keys',
      'DELETE /v1/api-keys/{id}',
      'DELETE /v1/targets/{target}',
    ]);
    for (const e of entries) {
      expect(e).toMatchObject({ actor, outcome: 'success' });
      // As people read it: the key's name and its public prefix.
      expect(e.details.actor_name).toBe(`${name} (key ${made.body.prefix})`);
    }
  });
});
