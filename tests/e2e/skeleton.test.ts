/**
 * The walking skeleton end to end through the HTTP API and the real Temporal server: create a target,
 * read its routing config, run an optimization cycle, read its no_action decision, and find the run by its
 * search attributes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TargetKey } from '../../workflows/search-attributes';
import { eventually, uniqueName } from '../helpers/env';
import { call, startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem();
});
afterAll(async () => {
  await sys?.stop();
});

const arms = [
  { id: 'gpt-4o', provider: 'openai', model: 'gpt-4o' },
  { id: 'haiku', provider: 'anthropic', model: 'claude-3-5-haiku' },
];

describe('walking skeleton', () => {
  it('creates a target and serves its routing config with a version', async () => {
    const name = uniqueName('support-bot');
    const created = await call(sys, 'POST', '/v1/targets', {
      name,
      arms,
      segments: ['default', 'summarize'],
    });
    expect(created.status).toBe(201);
    expect(created.body.arms.map((a: { id: string }) => a.id)).toEqual(['gpt-4o', 'haiku']);
    expect(created.body.segments).toEqual(['default', 'summarize']);

    const cfg = await call(sys, 'GET', `/v1/targets/${name}/config?segment=summarize`);
    expect(cfg.status).toBe(200);
    expect(cfg.body).toMatchObject({
      target: name,
      segment: 'summarize',
      version: 1,
      weights: { 'gpt-4o': 10000 },
    });
    const etag = cfg.headers.get('etag')!;
    expect(etag).toContain('v1');
    const again = await call(sys, 'GET', `/v1/targets/${name}/config?segment=summarize`, undefined, {
      'if-none-match': etag,
    });
    expect(again.status).toBe(304);
  });

  it('runs an optimization cycle in Temporal and records a no_action decision', async () => {
    const name = uniqueName('search-summarizer');
    expect((await call(sys, 'POST', '/v1/targets', { name, arms })).status).toBe(201);

    const started = await call(sys, 'POST', '/v1/optimizations', { target: name });
    expect(started.status).toBe(202);
    expect(started.body.id).toMatch(new RegExp(`^cycle-${name}-`));

    const done = await eventually(
      async () => {
        const r = await call(sys, 'GET', `/v1/optimizations/${started.body.id}`);
        return r.body.status === 'completed' ? r : undefined;
      },
      { what: 'the cycle to complete' },
    );
    expect(done.body.decisions).toHaveLength(1);
    expect(done.body.decisions[0]).toMatchObject({
      target: name,
      segment: 'default',
      kind: 'no_action',
      status: 'no_action',
    });
    expect(done.body.decisions[0].explanation).toMatch(/No change for default/);
    expect(done.body.decisions[0].from_version).toBe(1);

    const description = await sys.client.workflow.getHandle(started.body.id).describe();
    expect(description.typedSearchAttributes.get(TargetKey)).toBe(name);
    const listed = await eventually(
      async () => {
        const found = [];
        for await (const w of sys.client.workflow.list({ query: `Target = "${name}"` }))
          found.push(w.workflowId);
        return found.includes(started.body.id) ? found : undefined;
      },
      { what: 'visibility to list the cycle by Target' },
    );
    expect(listed).toContain(started.body.id);
  });
});

describe('bad input', () => {
  it('answers malformed JSON with 400 problem+json', async () => {
    const r = await call(sys, 'POST', '/v1/targets', '{"name": ');
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    expect(r.body.detail).toMatch(/JSON/);
  });

  it('names missing fields and wrong types', async () => {
    const r = await call(sys, 'POST', '/v1/targets', { name: 'x-ok', arms: [{ id: 'a', provider: 7 }] });
    expect(r.status).toBe(422);
    const paths = r.body.errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['arms[0].provider', 'arms[0].model']));
  });

  it('refuses a duplicate target with 409 and writes nothing half', async () => {
    const name = uniqueName('dup');
    expect((await call(sys, 'POST', '/v1/targets', { name, arms })).status).toBe(201);
    const dup = await call(sys, 'POST', '/v1/targets', {
      name,
      arms: [{ id: 'other', provider: 'x', model: 'y' }],
    });
    expect(dup.status).toBe(409);
    const t = await call(sys, 'GET', `/v1/targets/${name}`);
    expect(t.body.arms.map((a: { id: string }) => a.id)).toEqual(['gpt-4o', 'haiku']);
  });

  it('rolls back a create whose weights name an unknown arm', async () => {
    const name = uniqueName('half');
    const r = await call(sys, 'POST', '/v1/targets', { name, arms, weights: { nope: 10000 } });
    expect(r.status).toBe(422);
    expect((await call(sys, 'GET', `/v1/targets/${name}`)).status).toBe(404);
  });

  it('answers an unknown target with 404 for config and optimizations', async () => {
    expect((await call(sys, 'GET', '/v1/targets/no-such-target/config')).status).toBe(404);
    const r = await call(sys, 'POST', '/v1/optimizations', { target: 'no-such-target' });
    expect(r.status).toBe(404);
    expect(r.body.type).toContain('not-found');
  });

  it('rejects path traversal in ids', async () => {
    const r = await call(sys, 'GET', '/v1/optimizations/..%2F..%2Fetc');
    expect(r.status).toBe(400);
  });

  it('publishes the routes in /openapi.json', async () => {
    const r = await call(sys, 'GET', '/openapi.json');
    expect(r.status).toBe(200);
    expect(Object.keys(r.body.paths)).toEqual(
      expect.arrayContaining([
        '/v1/targets',
        '/v1/targets/{target}/config',
        '/v1/optimizations',
        '/v1/optimizations/{id}',
      ]),
    );
  });
});

describe('analysis', () => {
  it('stores the cycle analysis report and serves it', async () => {
    const name = uniqueName('analyzed');
    expect((await call(sys, 'POST', '/v1/targets', { name, arms })).status).toBe(201);
    expect((await call(sys, 'GET', `/v1/targets/${name}/analysis`)).status).toBe(404);
    const started = await call(sys, 'POST', '/v1/optimizations', { target: name });
    await eventually(
      async () =>
        (await call(sys, 'GET', `/v1/optimizations/${started.body.id}`)).body.status === 'completed',
      {
        what: 'the cycle to complete',
      },
    );
    const report = await call(sys, 'GET', `/v1/targets/${name}/analysis`);
    expect(report.status).toBe(200);
    expect(report.body).toMatchObject({ cycle_id: started.body.id, target: name, segments: ['default'] });
    expect(Object.keys(report.body.report).length).toBeGreaterThan(0);
  });
});
