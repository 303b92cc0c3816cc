/**
 * Every string the admin API is sent is either refused at the boundary (422 naming the field) or stored
 * and read back exactly. Generated strings -- NUL, lone surrogates, non-characters, astral characters,
 * very long runs -- go into each string field of the admin request bodies, over real HTTP into the real
 * PostgreSQL; no answer may be a 5xx, a string with NUL or a lone surrogate must be refused naming its
 * field, and any other string that is accepted must come back unchanged.
 */
import '@hono/zod-openapi';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { unstorable } from '../../api/middleware/storable-text';
import { listenApi } from '../../api/server';
import { testEnv, uniqueName } from '../helpers/env';
import { call, startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
let server: Server;
let base: string;
let target: string;

beforeAll(async () => {
  sys = await startTestSystem({ workers: false });
  const deps = {
    ...sys.deps,
    env: { ...testEnv, API_RATE_LIMIT_PER_MINUTE: 0, API_RATE_LIMIT_ANONYMOUS_PER_MINUTE: 0 },
  };
  server = await listenApi(createApp(deps), 0, '127.0.0.1');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  target = uniqueName('hostile');
  const created = await api('POST', '/v1/targets', { name: target, arms: [arm('a'), arm('b')] });
  expect(created.status).toBe(201);
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await sys?.stop();
});

const arm = (id: string) => ({ id, provider: 'openai', model: 'gpt-4o' });

type Answer = Awaited<ReturnType<typeof call>>;

/** call() of the test helpers, sent over real HTTP to the served API instead of app.request(). */
function api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const overHttp = {
    request: (p: string, init: RequestInit) => fetch(`${base}${p}`, init),
  } as unknown as TestSystem['app'];
  return call({ app: overHttp }, method, path, body, headers, { auth: sys.adminKey });
}

/** A string field of an admin body: how to send a value in it, and how to read the stored value back. */
interface Field {
  name: string;
  send(value: string): Promise<Answer>;
  readBack?(sent: Answer): Promise<unknown>;
  /** The error path when it is not `name` (a property name is named by its own path). */
  errorPath?(value: string): string;
  /**
   * Only ever sent a string the rule refuses: a value it accepts would change state other test files
   * share (the one settings row of an integration) or start work (an optimization cycle).
   */
  refusedOnly?: boolean;
}

const special = fc.constantFrom(
  '\0',
  '\uD800',
  '\uDBFF',
  '\uDC00',
  '\uDFFF',
  '\uD83D\uDE00',
  '\uFFFE',
  '\uFFFF',
  '\uFDD0',
  '\u{10FFFF}',
  '\u0001',
  '\u001F',
  '\u007F',
  '\u200B',
  '\u202E',
  'e\u0301',
  '\uFEFF',
  '%00',
  '\\u0000',
);
/** Arbitrary Unicode (any code point, lone surrogates included), mixed with the awkward ones above. */
const hostile = fc.oneof(
  fc
    .array(fc.oneof(fc.string({ unit: 'binary', maxLength: 8 }), special), { minLength: 1, maxLength: 8 })
    .map((parts) => parts.join('')),
  fc.tuple(fc.integer({ min: 100, max: 20_000 }), special).map(([n, s]) => `${'\u00E9'.repeat(n)}${s}`),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 64 }),
);

const created = () => uniqueName('h');

function fields(): Field[] {
  const targetBody = (
    patch: (body: { arms: Record<string, unknown>[] } & Record<string, unknown>) => void,
  ) => {
    const body = { name: created(), arms: [arm('a')] as Record<string, unknown>[] };
    patch(body);
    return body;
  };
  const readTarget = (path: (t: Answer['body']) => unknown) => async (sent: Answer) =>
    path((await api('GET', `/v1/targets/${sent.body.name}`)).body);
  const readArm = (key: string) => async () => (await api('GET', `/v1/targets/${target}/arms/x`)).body[key];
  return [
    {
      name: 'description',
      send: (v) =>
        api(
          'POST',
          '/v1/targets',
          targetBody((b) => (b.description = v)),
        ),
      readBack: readTarget((t) => t.description),
    },
    {
      name: 'arms[0].provider',
      send: (v) =>
        api(
          'POST',
          '/v1/targets',
          targetBody((b) => (b.arms[0]!.provider = v)),
        ),
      readBack: readTarget((t) => t.arms[0].provider),
    },
    {
      name: 'arms[0].model',
      send: (v) =>
        api(
          'POST',
          '/v1/targets',
          targetBody((b) => (b.arms[0]!.model = v)),
        ),
      readBack: readTarget((t) => t.arms[0].model),
    },
    {
      name: 'arms[0].prompt_template',
      send: (v) =>
        api(
          'POST',
          '/v1/targets',
          targetBody((b) => (b.arms[0]!.prompt_template = v)),
        ),
      readBack: readTarget((t) => t.arms[0].prompt_template),
    },
    {
      name: 'arms[0].params.style',
      send: (v) =>
        api(
          'POST',
          '/v1/targets',
          targetBody((b) => (b.arms[0]!.params = { style: v })),
        ),
      readBack: readTarget((t) => t.arms[0].params.style),
    },
    { name: 'name', send: (v) => api('POST', '/v1/targets', { name: v, arms: [arm('a')] }) },
    {
      name: 'segments[0]',
      send: (v) =>
        api(
          'POST',
          '/v1/targets',
          targetBody((b) => (b.segments = [v])),
        ),
    },
    {
      name: 'id',
      send: async (v) => {
        const r = await api('POST', `/v1/targets/${target}/arms`, { ...arm('x'), id: v });
        if (r.status === 201) await api('DELETE', `/v1/targets/${target}/arms/${encodeURIComponent(v)}`);
        return r;
      },
    },
    {
      name: 'model',
      send: async (v) => {
        await api('DELETE', `/v1/targets/${target}/arms/x`);
        return api('POST', `/v1/targets/${target}/arms`, { ...arm('x'), model: v });
      },
      readBack: readArm('model'),
    },
    { name: 'name', send: (v) => api('POST', `/v1/targets/${target}/segments`, { name: v }) },
    {
      name: 'reason',
      send: async (v) => {
        const etag = (await api('GET', `/v1/targets/${target}/config`)).headers.get('etag')!;
        return api(
          'PUT',
          `/v1/targets/${target}/config`,
          { weights: { a: 5000, b: 5000 }, reason: v },
          {
            'if-match': etag,
          },
        );
      },
      readBack: async () => (await api('GET', `/v1/targets/${target}/config`)).body.reason,
    },
    {
      name: 'weights',
      send: async (v) => {
        const etag = (await api('GET', `/v1/targets/${target}/config`)).headers.get('etag')!;
        return api(
          'PUT',
          `/v1/targets/${target}/config`,
          { weights: { a: 10_000, [v]: 0 } },
          { 'if-match': etag },
        );
      },
      errorPath: (v) => `weights.${v}`,
    },
    {
      name: 'provider',
      send: (v) =>
        api('PUT', `/v1/prices/${created()}`, { provider: v, input_usd_per_mtok: 1, output_usd_per_mtok: 2 }),
      readBack: async (sent) => (await api('GET', `/v1/prices/${sent.body.model}`)).body.items[0].provider,
    },
    {
      name: 'description',
      send: (v) =>
        // Inactive: other test files publish events, and nothing should be delivered to it.
        api('POST', '/v1/webhooks', {
          url: 'https://hooks.example.com/x',
          events: ['*'],
          active: false,
          description: v,
        }),
      readBack: async (sent) => {
        const stored = (await api('GET', `/v1/webhooks/${sent.body.id}`)).body.description;
        await api('DELETE', `/v1/webhooks/${sent.body.id}`);
        return stored;
      },
    },
    {
      name: 'url',
      send: async (v) => {
        const r = await api('POST', '/v1/webhooks', { url: v, events: ['*'], active: false });
        if (r.status === 201) await api('DELETE', `/v1/webhooks/${r.body.id}`);
        return r;
      },
    },
    {
      name: 'name',
      send: (v) => api('POST', '/v1/api-keys', { name: v, roles: ['analyst'] }),
      readBack: async (sent) => {
        const stored = (await api('GET', `/v1/api-keys/${sent.body.id}`)).body.name;
        await api('DELETE', `/v1/api-keys/${sent.body.id}`);
        return stored;
      },
    },
    // Refusals only: these never reach a store with a well-formed string either (unknown ids), so what
    // is checked is that nothing answers 5xx and that the rule names the field.
    ...(['approve', 'reject'] as const).flatMap((verb) => [
      {
        name: 'reason',
        send: (v: string) => api('POST', `/v1/decisions/${randomUUID()}/${verb}`, { reason: v }),
      },
      { name: 'by', send: (v: string) => api('POST', `/v1/decisions/${randomUUID()}/${verb}`, { by: v }) },
      {
        name: 'reason',
        send: (v: string) => api('POST', `/v1/prompt-proposals/${randomUUID()}/${verb}`, { reason: v }),
      },
    ]),
    ...(['pause', 'resume', 'abort'] as const).map((verb) => ({
      name: 'reason',
      send: (v: string) => api('POST', `/v1/rollouts/rollout-${target}-none/${verb}`, { reason: v }),
    })),
    {
      name: 'settings.channel',
      send: (v) => api('PUT', '/v1/integrations/slack', { settings: { channel: v } }),
      refusedOnly: true,
    },
    {
      name: 'secrets.api_token',
      send: (v) => api('PUT', '/v1/integrations/jira', { secrets: { api_token: v } }),
      refusedOnly: true,
    },
    { name: 'target', send: (v) => api('POST', '/v1/optimizations', { target: v }), refusedOnly: true },
  ];
}

/** Sent strings with NUL or a lone surrogate may never be stored by a store-everything route. */
function refusable(v: string): boolean {
  return unstorable(v) !== undefined;
}

describe('hostile strings in admin bodies', () => {
  it('are refused naming the field, or stored and read back exactly; never a 5xx', async () => {
    const all = fields();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: all.length - 1 }), hostile, async (i, generated) => {
        const field = all[i]!;
        const value = field.refusedOnly && !refusable(generated) ? `${generated}\0` : generated;
        const sent = await field.send(value);
        expect(sent.status, `${field.name} ${JSON.stringify(value).slice(0, 120)}`).toBeLessThan(500);
        if (refusable(value)) {
          expect(sent.status, field.name).toBe(422);
          expect(sent.body.errors[0].path, field.name).toBe(field.errorPath?.(value) ?? field.name);
          return;
        }
        if (sent.status < 300 && field.readBack) expect(await field.readBack(sent), field.name).toBe(value);
      }),
      { numRuns: Number(process.env.HOSTILE_RUNS ?? 300) },
    );
  }, 600_000);

  it('refuses NUL in a query or path parameter with 422, and never answers 5xx', async () => {
    const query = await api('GET', '/v1/audit?actor=a%00b');
    expect(query.status).toBe(422);
    expect(query.body.errors[0].path).toBe('query.actor');
    for (const path of [
      `/v1/targets/a%00b`,
      `/v1/targets/${target}/arms/a%00`,
      '/v1/prices/gpt%00',
      '/v1/api-keys/%00',
    ]) {
      const r = await api('GET', path);
      expect(r.status, path).toBe(422);
      expect(r.body.errors[0].path, path).toBe('path');
    }
    await fc.assert(
      fc.asyncProperty(hostile, async (value) => {
        // encodeURIComponent cannot encode a lone surrogate; a client sends its replacement character.
        const encoded = encodeURIComponent(value.replace(/[\uD800-\uDFFF]/gu, '\uFFFD'));
        for (const path of [
          `/v1/targets/${encoded}`,
          `/v1/prices/${encoded}`,
          `/v1/targets?cursor=${encoded}`,
          `/v1/audit?actor=${encoded}`,
          `/v1/decisions?target=${encoded}`,
        ]) {
          const r = await api('GET', path);
          const what = path.slice(0, 120);
          expect(r.status, what).toBeLessThan(500);
          // Node refuses a request line that long (431) before any route sees it.
          if (value.includes('\0') && r.status !== 431) expect(r.status, what).toBe(422);
        }
      }),
      { numRuns: Number(process.env.HOSTILE_RUNS ?? 60) },
    );
  }, 600_000);
});
