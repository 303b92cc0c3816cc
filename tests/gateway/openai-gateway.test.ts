/**
 * The gateway's OpenAI door driven by the official `openai` client, as users will drive it: the API
 * served over real HTTP (api/server.ts) with the routing-config cache and the embedded ingest pipeline,
 * a local server speaking OpenAI's wire format as the provider. Routing follows the live config's
 * weights, a config change is seen within a second, provider failures fall back to the next arm with
 * every attempt recorded, streams carry usage, and a client that goes away cancels the upstream call.
 */
// Before any zod schema is built (api/main.ts does the same): zod-openapi extends zod on import.
import '@hono/zod-openapi';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, uniqueName } from '../helpers/env';
import { call } from '../helpers/system';
import { startGatewaySystem, type GatewaySystem } from './gateway-system';
import { COMPLETION_TOKENS, PROMPT_TOKENS, startStubOpenAI, type StubOpenAI } from './stub-openai';

let gw: GatewaySystem;
let stub: StubOpenAI;
let gatewayUrl: string;
let appKey: string;
const provider = uniqueName('stub');
const PROVIDER_KEY = 'sk-stub-provider-key';

beforeAll(async () => {
  stub = await startStubOpenAI();
  gw = await startGatewaySystem({ name: provider, api: 'openai', base_url: stub.url, api_key: PROVIDER_KEY });
  gatewayUrl = `${gw.base}/gateway/openai/v1`;
  appKey = gw.appKey;
});
afterAll(async () => {
  await gw?.stop();
  await stub?.close();
});

const client = (key = appKey) => new OpenAI({ baseURL: gatewayUrl, apiKey: key, maxRetries: 0 });
const messages = [{ role: 'user' as const, content: 'hello' }];

/** A target with arms `a` and `b` calling the stub's models `<target>-a` and `<target>-b`. */
async function target(weights: Record<string, number>, servingOfA: Record<string, number> = {}) {
  const name = uniqueName('gw');
  const arms = ['a', 'b'].map((id) => ({
    id,
    provider,
    model: `${name}-${id}`,
    ...(id === 'a' ? { serving: servingOfA } : {}),
  }));
  const r = await call(gw.sys, 'POST', '/v1/targets', { name, arms, segments: ['default'], weights });
  expect(r.status).toBe(201);
  return name;
}

async function setWeights(name: string, weights: Record<string, number>) {
  const etag = (await call(gw.sys, 'GET', `/v1/targets/${name}/config`)).headers.get('etag')!;
  const r = await call(
    gw.sys,
    'PUT',
    `/v1/targets/${name}/config`,
    { weights, reason: 'test' },
    { 'if-match': etag },
  );
  expect(r.status).toBe(200);
  return r.body.version as number;
}

const callsTo = (model: string) => stub.calls.filter((c) => c.model === model).length;

const metricsByArm = (name: string) => gw.metricsByArm(name);

describe('POST /gateway/openai/v1/chat/completions', () => {
  it('routes by the live config, sends the provider its key and the arm model, and records each call', async () => {
    const name = await target({ a: 10_000, b: 0 });
    const first = await client().chat.completions.create({ model: name, messages }).withResponse();
    expect(first.data.choices[0]!.message.content).toBe(`hello from ${name}-a`);
    expect(first.data.usage).toMatchObject({
      prompt_tokens: PROMPT_TOKENS,
      completion_tokens: COMPLETION_TOKENS,
    });
    expect(first.response.headers.get('x-llmopt-arm')).toBe('a');
    expect(first.response.headers.get('x-llmopt-config-version')).toBe('1');
    expect(first.response.headers.get('x-llmopt-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(first.response.headers.get('x-llmopt-overhead-ms'))).toBeGreaterThanOrEqual(0);
    const sent = stub.calls.find((c) => c.model === `${name}-a`)!;
    expect(sent.authorization).toBe(`Bearer ${PROVIDER_KEY}`);

    const version = await setWeights(name, { a: 0, b: 10_000 });
    // The cache and its bus carry the new version to the gateway; awaited, not slept for.
    const moved = await eventually(
      async () => {
        const r = await client().chat.completions.create({ model: name, messages }).withResponse();
        return r.response.headers.get('x-llmopt-arm') === 'b' ? r : undefined;
      },
      { timeoutMs: 1_000 },
    );
    expect(moved.response.headers.get('x-llmopt-config-version')).toBe(String(version));
    expect(moved.data.choices[0]!.message.content).toBe(`hello from ${name}-b`);

    const before = { a: callsTo(`${name}-a`), b: callsTo(`${name}-b`) };
    for (let i = 0; i < 5; i++)
      await client().chat.completions.create({ model: `${name}/default`, messages, user: `u${i}` });
    expect(callsTo(`${name}-a`)).toBe(before.a);
    expect(callsTo(`${name}-b`)).toBe(before.b + 5);

    // Exactly one llm.request per call, by arm, with the provider's usage.
    await eventually(async () => {
      const m = await metricsByArm(name);
      const total = (m.a?.count ?? 0) + (m.b?.count ?? 0);
      return total === stub.calls.filter((c) => c.model.startsWith(`${name}-`)).length ? m : undefined;
    });
    const m = await metricsByArm(name);
    expect(m.a).toMatchObject({ count: callsTo(`${name}-a`), ok: callsTo(`${name}-a`) });
    expect(m.b).toMatchObject({ count: callsTo(`${name}-b`), ok: callsTo(`${name}-b`) });
    expect(m.b!.input).toBe(callsTo(`${name}-b`) * PROMPT_TOKENS);
    expect(m.b!.output).toBe(callsTo(`${name}-b`) * COMPLETION_TOKENS);
  });

  it.each([
    ['a 500', { status: 500 }, 'http_500'],
    ['a 429', { status: 429 }, 'http_429'],
    ['a timeout', { latencyMs: 5_000 }, 'timeout'],
  ])('falls back to the next arm on %s, recording both attempts', async (_, behaviour, errorType) => {
    const name = await target({ a: 10_000, b: 0 });
    stub.behaviours.set(`${name}-a`, behaviour);
    const r = await client()
      .chat.completions.create({ model: name, messages }, { headers: { 'x-llmopt-timeout-ms': '1000' } })
      .withResponse();
    expect(r.response.headers.get('x-llmopt-arm')).toBe('b');
    expect(r.data.choices[0]!.message.content).toBe(`hello from ${name}-b`);
    expect(callsTo(`${name}-a`)).toBe(1);
    expect(callsTo(`${name}-b`)).toBe(1);
    const m = await eventually(async () => {
      const x = await metricsByArm(name);
      return x.a?.count === 1 && x.b?.count === 1 ? x : undefined;
    });
    expect(m.a).toMatchObject({ count: 1, ok: 0, errors: { [errorType]: 1 } });
    expect(m.b).toMatchObject({ count: 1, ok: 1 });
  });

  it('answers 502 with the attempts when every arm fails, and passes a provider 4xx through', async () => {
    const name = await target({ a: 10_000, b: 0 });
    stub.behaviours.set(`${name}-a`, { status: 503 });
    stub.behaviours.set(`${name}-b`, { status: 500 });
    const failed = await client()
      .chat.completions.create({ model: name, messages })
      .catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(OpenAI.APIError);
    expect((failed as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect((failed as InstanceType<typeof OpenAI.APIError>).message).toMatch(
      /a: provider answered 503; b: provider answered 500/,
    );

    stub.behaviours.set(`${name}-a`, { status: 400 });
    const refused = await client()
      .chat.completions.create({ model: name, messages })
      .catch((e: unknown) => e);
    expect((refused as InstanceType<typeof OpenAI.APIError>).status).toBe(400);
    expect(callsTo(`${name}-b`)).toBe(1);
  });

  it('streams through the client with usage, and with the arm header', async () => {
    const name = await target({ a: 10_000, b: 0 });
    const { data: stream, response } = await client()
      .chat.completions.create({
        model: name,
        messages,
        stream: true,
        stream_options: { include_usage: true },
      })
      .withResponse();
    expect(response.headers.get('x-llmopt-arm')).toBe('a');
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe('part0 part1 part2 ');
    expect(usage).toMatchObject({ prompt_tokens: PROMPT_TOKENS, completion_tokens: COMPLETION_TOKENS });
    const m = await eventually(async () => {
      const x = await metricsByArm(name);
      return x.a?.count === 1 ? x : undefined;
    });
    expect(m.a).toMatchObject({ ok: 1, input: PROMPT_TOKENS, output: COMPLETION_TOKENS });
  });

  it('cancels the upstream stream when the client goes away mid-stream', async () => {
    const name = await target({ a: 10_000, b: 0 });
    stub.behaviours.set(`${name}-a`, { chunks: 500, chunkDelayMs: 20 });
    const stream = await client().chat.completions.create({ model: name, messages, stream: true });
    let seen = 0;
    for await (const _ of stream) {
      if (++seen === 3) break; // leaving the loop aborts the client's request
    }
    await eventually(async () => stub.closedEarly.includes(`${name}-a`), { timeoutMs: 5_000 });
  });

  it('refuses a caller without gateway:invoke, and a model that is no target', async () => {
    const analyst = await gw.sys.keyFor('analyst');
    const denied = await client(analyst)
      .chat.completions.create({ model: 'x', messages })
      .catch((e: unknown) => e);
    expect((denied as InstanceType<typeof OpenAI.APIError>).status).toBe(403);
    const missing = await client()
      .chat.completions.create({ model: uniqueName('none'), messages })
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    const bad = await fetch(`${gatewayUrl}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${appKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'x' }),
    });
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as { errors: { path: string }[] }).errors[0]!.path).toBe('messages');
  });

  it("enforces an arm's rate_limit_rps: 429 with Retry-After, recorded, the provider not called", async () => {
    const name = await target({ a: 10_000, b: 0 }, { rate_limit_rps: 0.1 });
    await client().chat.completions.create({ model: name, messages });
    const refused = await client()
      .chat.completions.create({ model: name, messages })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    const headers = (refused as InstanceType<typeof OpenAI.APIError>).headers;
    expect(Number(headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(callsTo(`${name}-a`)).toBe(1);
    expect(callsTo(`${name}-b`)).toBe(0);
    const m = await eventually(async () => {
      const x = await metricsByArm(name);
      return x.a?.count === 2 ? x : undefined;
    });
    expect(m.a).toMatchObject({ ok: 1, errors: { arm_rate_limit: 1 } });
  });

  it("enforces an arm's max_concurrency, and frees the slot when a call ends", async () => {
    const name = await target({ a: 10_000, b: 0 }, { max_concurrency: 1 });
    stub.behaviours.set(`${name}-a`, { latencyMs: 1_500 });
    const first = client().chat.completions.create({ model: name, messages });
    await eventually(async () => callsTo(`${name}-a`) === 1);
    const refused = await client()
      .chat.completions.create({ model: name, messages })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect((refused as InstanceType<typeof OpenAI.APIError>).message).toMatch(/at most 1 calls at once/);
    expect((await first).choices[0]!.message.content).toBe(`hello from ${name}-a`);
    stub.behaviours.delete(`${name}-a`);
    await client().chat.completions.create({ model: name, messages });
    expect(callsTo(`${name}-a`)).toBe(2);
  });
});

describe('GET /gateway/openai/v1/models', () => {
  it('lists targets and their segments as models', async () => {
    const name = await target({ a: 10_000, b: 0 });
    const ids: string[] = [];
    for await (const m of client().models.list()) ids.push(m.id);
    expect(ids).toEqual(expect.arrayContaining([name, `${name}/default`]));
  });
});
