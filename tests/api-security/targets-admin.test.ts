/**
 * Managing a target after creation (segments, arms, update, delete), its routing-config history, and
 * the audit log that records each change with who, what and when.
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

const arms = [
  { id: 'big', provider: 'openai', model: 'gpt-4o' },
  { id: 'small', provider: 'openai', model: 'gpt-4o-mini' },
];

describe('segments and arms', () => {
  it('adds, reads and removes segments with their own config history', async () => {
    const name = uniqueName('seg');
    await call(sys, 'POST', '/v1/targets', { name, arms, weights: { big: 8000, small: 2000 } });
    const created = await call(sys, 'POST', `/v1/targets/${name}/segments`, { name: 'summarize' });
    expect(created.status).toBe(201);
    expect(created.body.config).toMatchObject({
      segment: 'summarize',
      version: 1,
      weights: { big: 8000, small: 2000 },
    });
    expect((await call(sys, 'POST', `/v1/targets/${name}/segments`, { name: 'summarize' })).status).toBe(409);
    const custom = await call(sys, 'POST', `/v1/targets/${name}/segments`, {
      name: 'classify',
      weights: { small: 10000 },
    });
    expect(custom.body.config.weights).toEqual({ small: 10000 });
    const unknown = await call(sys, 'POST', `/v1/targets/${name}/segments`, {
      name: 'x',
      weights: { nope: 10000 },
    });
    expect(unknown.status).toBe(422);
    expect(unknown.body.errors[0].path).toBe('weights.nope');

    const list = await call(sys, 'GET', `/v1/targets/${name}/segments`);
    expect(list.body.items.map((s: { name: string }) => s.name)).toEqual([
      'classify',
      'default',
      'summarize',
    ]);
    expect((await call(sys, 'GET', `/v1/targets/${name}/segments/summarize`)).body.config.version).toBe(1);
    expect((await call(sys, 'DELETE', `/v1/targets/${name}/segments/default`)).status).toBe(409);
    expect((await call(sys, 'DELETE', `/v1/targets/${name}/segments/summarize`)).status).toBe(204);
    expect((await call(sys, 'GET', `/v1/targets/${name}/segments/summarize`)).status).toBe(404);
    expect((await call(sys, 'GET', `/v1/targets/${name}`)).body.revision).toBe(4);
  });

  it('adds, updates and removes arms, refusing to remove one that still serves traffic', async () => {
    const name = uniqueName('arm');
    await call(sys, 'POST', '/v1/targets', { name, arms });
    const added = await call(sys, 'POST', `/v1/targets/${name}/arms`, {
      id: 'haiku',
      provider: 'anthropic',
      model: 'claude-3-5-haiku',
      params: { temperature: 0.2 },
    });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({
      id: 'haiku',
      prompt_template: 'default',
      params: { temperature: 0.2 },
    });
    expect(
      (await call(sys, 'POST', `/v1/targets/${name}/arms`, { id: 'haiku', provider: 'x', model: 'y' }))
        .status,
    ).toBe(409);
    const bad = await call(sys, 'POST', `/v1/targets/${name}/arms`, {
      id: 'Bad Id',
      provider: 'x',
      model: 'y',
      params: { temperature: 9 },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toEqual(
      expect.arrayContaining(['id', 'params.temperature']),
    );

    const etag = (await call(sys, 'GET', `/v1/targets/${name}`)).headers.get('etag')!;
    expect(
      (await call(sys, 'PATCH', `/v1/targets/${name}/arms/haiku`, { model: 'claude-3-5-haiku-latest' }))
        .status,
    ).toBe(428);
    const patched = await call(
      sys,
      'PATCH',
      `/v1/targets/${name}/arms/haiku`,
      { model: 'claude-3-5-haiku-latest' },
      { 'if-match': etag },
    );
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      id: 'haiku',
      model: 'claude-3-5-haiku-latest',
      provider: 'anthropic',
    });
    expect(
      (
        await call(
          sys,
          'PATCH',
          `/v1/targets/${name}/arms/haiku`,
          { id: 'renamed' },
          { 'if-match': patched.headers.get('etag')! },
        )
      ).status,
    ).toBe(422);
    expect(
      (await call(sys, 'GET', `/v1/targets/${name}/arms`)).body.items.map((a: { id: string }) => a.id),
    ).toEqual(['big', 'haiku', 'small']);

    const busy = await call(sys, 'DELETE', `/v1/targets/${name}/arms/big`);
    expect(busy.status).toBe(409);
    expect(busy.body.detail).toContain('default');
    expect((await call(sys, 'DELETE', `/v1/targets/${name}/arms/haiku`)).status).toBe(204);
    expect((await call(sys, 'GET', `/v1/targets/${name}/arms/haiku`)).status).toBe(404);
  });

  it('deletes a target with everything it owns', async () => {
    const name = uniqueName('gone');
    await call(sys, 'POST', '/v1/targets', { name, arms });
    expect((await call(sys, 'DELETE', `/v1/targets/${name}`, undefined, { 'if-match': '"r9"' })).status).toBe(
      412,
    );
    expect((await call(sys, 'DELETE', `/v1/targets/${name}`)).status).toBe(204);
    expect((await call(sys, 'GET', `/v1/targets/${name}`)).status).toBe(404);
    expect((await call(sys, 'GET', `/v1/targets/${name}/config/history`)).status).toBe(404);
    expect((await call(sys, 'DELETE', `/v1/targets/${name}`)).status).toBe(404);
  });
});

describe('routing-config history', () => {
  it('lists versions newest first with a cursor and reads one version', async () => {
    const name = uniqueName('hist');
    await call(sys, 'POST', '/v1/targets', { name, arms });
    let etag = (await call(sys, 'GET', `/v1/targets/${name}/config`)).headers.get('etag')!;
    for (const big of [9000, 8000, 7000]) {
      const r = await call(
        sys,
        'PUT',
        `/v1/targets/${name}/config`,
        { weights: { big, small: 10000 - big } },
        { 'if-match': etag },
      );
      expect(r.status).toBe(200);
      etag = r.headers.get('etag')!;
    }
    const first = await call(sys, 'GET', `/v1/targets/${name}/config/history?limit=3`);
    expect(first.body.items.map((c: { version: number }) => c.version)).toEqual([4, 3, 2]);
    const rest = await call(
      sys,
      'GET',
      `/v1/targets/${name}/config/history?limit=3&cursor=${first.body.next_cursor}`,
    );
    expect(rest.body.items.map((c: { version: number }) => c.version)).toEqual([1]);
    expect(rest.body.next_cursor).toBeNull();
    const v2 = await call(sys, 'GET', `/v1/targets/${name}/config/versions/2`);
    expect(v2.body.weights).toEqual({ big: 9000, small: 1000 });
    expect(v2.headers.get('etag')).toMatch(/^"v2\.[\w-]{22}"$/);
    expect((await call(sys, 'GET', `/v1/targets/${name}/config/versions/99`)).status).toBe(404);
    expect((await call(sys, 'GET', `/v1/targets/${name}/config/versions/0`)).status).toBe(400);
    expect((await call(sys, 'GET', `/v1/targets/${name}/config/history?segment=nope`)).status).toBe(404);
    expect((await call(sys, 'GET', `/v1/targets/${name}/config/history?cursor=forged`)).status).toBe(400);
  });
});

describe('audit log', () => {
  it('records who changed what and when, and refused attempts, without secrets', async () => {
    const name = uniqueName('audited');
    const started = new Date(Date.now() - 1000).toISOString();
    await call(sys, 'POST', '/v1/targets', { name, arms });
    const etag = (await call(sys, 'GET', `/v1/targets/${name}`)).headers.get('etag')!;
    await call(sys, 'PATCH', `/v1/targets/${name}`, { description: 'audited change' }, { 'if-match': etag });
    const analyst = await sys.keyFor('analyst');
    expect((await call(sys, 'DELETE', `/v1/targets/${name}`, undefined, {}, { auth: analyst })).status).toBe(
      403,
    );
    const key = await call(sys, 'POST', '/v1/api-keys', { name: 'audited key', roles: ['ingest'] });

    const log = await call(sys, 'GET', `/v1/audit?resource=/v1/targets/${name}&since=${started}`);
    expect(log.status).toBe(200);
    const entries = log.body.items as {
      action: string;
      outcome: string;
      actor: string;
      at: string;
      details: Record<string, unknown>;
    }[];
    expect(entries.map((e) => `${e.action} ${e.outcome}`)).toEqual([
      'DELETE /v1/targets/{target} denied',
      'PATCH /v1/targets/{target} success',
      'POST /v1/targets success',
    ]);
    const adminPrefix = sys.adminKey.split('_')[1];
    expect(entries[1]!.actor).toBe(`key:${adminPrefix}`);
    expect(entries[1]!.details).toMatchObject({
      body: { description: 'audited change' },
      params: { target: name },
    });
    expect(entries[0]!.actor).toBe(`key:${analyst.split('_')[1]}`);
    expect(Date.parse(entries[0]!.at)).toBeGreaterThanOrEqual(Date.parse(started));

    const keyEntries = await call(
      sys,
      'GET',
      `/v1/audit?action=${encodeURIComponent('POST /v1/api-keys')}&limit=5`,
    );
    expect(keyEntries.body.items.length).toBeGreaterThan(0);
    expect(JSON.stringify(keyEntries.body)).not.toContain(key.body.key);
    // Reads are not changes.
    expect(entries.some((e) => e.action.startsWith('GET'))).toBe(false);
    expect((await call(sys, 'GET', '/v1/audit?outcome=maybe')).status).toBe(400);
    expect((await call(sys, 'GET', '/v1/audit', undefined, {}, { auth: analyst })).status).toBe(403);
  });

  it('pages with a cursor', async () => {
    const a = await call(sys, 'GET', '/v1/audit?limit=1');
    expect(a.body.items).toHaveLength(1);
    const b = await call(sys, 'GET', `/v1/audit?limit=1&cursor=${a.body.next_cursor}`);
    expect(b.body.items[0].id).toBeLessThan(a.body.items[0].id);
  });
});
