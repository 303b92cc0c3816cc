/**
 * Providers as configuration (PUT/GET/DELETE /v1/providers): admins only, the API key sealed at rest
 * and never returned, a stored key sent only to the address it was entered for, every change audited.
 */
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

const SECRET = 'sk-test-very-secret-value';

describe('/v1/providers', () => {
  it('stores a provider with its key sealed, and never returns the key', async () => {
    const name = uniqueName('prov');
    const put = await call(sys, 'PUT', `/v1/providers/${name}`, {
      api: 'openai',
      base_url: 'http://127.0.0.1:9/v1',
      api_key: SECRET,
    });
    expect(put.status).toBe(201);
    expect(put.headers.get('location')).toBe(`/v1/providers/${name}`);
    expect(put.body).toMatchObject({
      name,
      api: 'openai',
      base_url: 'http://127.0.0.1:9/v1',
      api_key_set: true,
    });

    const one = await call(sys, 'GET', `/v1/providers/${name}`);
    const all = await call(sys, 'GET', '/v1/providers');
    expect(one.status).toBe(200);
    expect(all.body.items.find((p: { name: string }) => p.name === name)).toEqual(one.body);
    for (const r of [put, one, all]) expect(JSON.stringify(r.body)).not.toContain(SECRET);

    // At rest the key is ciphertext; the repository opens it for the gateway.
    const row = await sys.deps.db.query<{ api_key: string }>(
      'SELECT api_key FROM gateway_providers WHERE name = $1',
      [name],
    );
    expect(row.rows[0]!.api_key).toMatch(/^enc:v1:/);
    expect((await sys.deps.repos.providers.get(name))?.api_key).toBe(SECRET);

    // The audit log records the change with the key redacted.
    const audit = await call(sys, 'GET', `/v1/audit?resource=${encodeURIComponent(`/v1/providers/${name}`)}`);
    expect(JSON.stringify(audit.body)).not.toContain(SECRET);
    expect(audit.body.items.map((i: { action: string }) => i.action)).toContain('PUT /v1/providers/{name}');
  });

  it('keeps the key across a change that keeps the address, and asks for it again when the address changes', async () => {
    const name = uniqueName('prov');
    const base = { api: 'openai', base_url: 'http://127.0.0.1:9/v1' };
    expect((await call(sys, 'PUT', `/v1/providers/${name}`, { ...base, api_key: SECRET })).status).toBe(201);
    const same = await call(sys, 'PUT', `/v1/providers/${name}`, { ...base, api: 'anthropic' });
    expect(same.status).toBe(200);
    expect(same.body).toMatchObject({ api: 'anthropic', api_key_set: true });

    const moved = await call(sys, 'PUT', `/v1/providers/${name}`, {
      ...base,
      base_url: 'http://127.0.0.2:9/v1',
    });
    expect(moved.status).toBe(422);
    expect(moved.body.errors).toEqual([expect.objectContaining({ path: 'api_key' })]);
    expect((await sys.deps.repos.providers.get(name))?.base_url).toBe(base.base_url);

    const cleared = await call(sys, 'PUT', `/v1/providers/${name}`, {
      ...base,
      base_url: 'http://127.0.0.2:9/v1',
      api_key: null,
    });
    expect(cleared.status).toBe(200);
    expect(cleared.body.api_key_set).toBe(false);
  });

  it('refuses bad input naming the field', async () => {
    const name = uniqueName('prov');
    const badUrl = await call(sys, 'PUT', `/v1/providers/${name}`, { api: 'openai', base_url: 'ftp://x' });
    expect(badUrl.status).toBe(422);
    expect(badUrl.body.errors[0].path).toBe('base_url');
    const badApi = await call(sys, 'PUT', `/v1/providers/${name}`, { api: 'gemini', base_url: 'http://x' });
    expect(badApi.status).toBe(422);
    expect(badApi.body.errors[0].path).toBe('api');
    expect((await call(sys, 'GET', `/v1/providers/${name}`)).status).toBe(404);
    expect(
      (await call(sys, 'PUT', '/v1/providers/Bad Name', { api: 'openai', base_url: 'http://x' })).status,
    ).toBe(400);
  });

  it('is for admins only: an operator or an application key is refused', async () => {
    const name = uniqueName('prov');
    for (const role of ['operator', 'ingest', 'analyst'] as const) {
      const key = await sys.keyFor(role);
      const body = { api: 'openai', base_url: 'http://127.0.0.1:9/v1', api_key: SECRET };
      const put = await call(sys, 'PUT', `/v1/providers/${name}`, body, {}, { auth: key });
      expect(put.status, role).toBe(403);
      expect(put.body.required_permission).toBe('providers:manage');
      expect((await call(sys, 'GET', '/v1/providers', undefined, {}, { auth: key })).status).toBe(403);
    }
    expect((await call(sys, 'GET', `/v1/providers/${name}`)).status).toBe(404);
  });

  it('deletes a provider', async () => {
    const name = uniqueName('prov');
    await call(sys, 'PUT', `/v1/providers/${name}`, { api: 'openai', base_url: 'http://127.0.0.1:9/v1' });
    expect((await call(sys, 'DELETE', `/v1/providers/${name}`)).status).toBe(204);
    expect((await call(sys, 'GET', `/v1/providers/${name}`)).status).toBe(404);
    expect((await call(sys, 'DELETE', `/v1/providers/${name}`)).status).toBe(404);
  });

  it('is in the OpenAPI document', async () => {
    const doc = await call(sys, 'GET', '/openapi.json');
    expect(Object.keys(doc.body.paths['/v1/providers/{name}'])).toEqual(['get', 'put', 'delete']);
  });
});
