/**
 * The gateway's Anthropic door driven by the official `@anthropic-ai/sdk` client: routed by the live
 * config to arms whose provider speaks Anthropic's Messages format (a local server here), streaming
 * included, falling back on an overloaded provider, every attempt recorded with its usage; and a
 * request in one format to an arm of the other refused with a 4xx that names what cannot be translated.
 */
// Before any zod schema is built (api/main.ts does the same): zod-openapi extends zod on import.
import '@hono/zod-openapi';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, uniqueName } from '../helpers/env';
import { call } from '../helpers/system';
import { startGatewaySystem, type GatewaySystem } from './gateway-system';
import { INPUT_TOKENS, OUTPUT_TOKENS, startStubAnthropic, type StubAnthropic } from './stub-anthropic';

let gw: GatewaySystem;
let stub: StubAnthropic;
let base: string;
let appKey: string;
const provider = uniqueName('claude');
const PROVIDER_KEY = 'sk-ant-stub-key';

beforeAll(async () => {
  stub = await startStubAnthropic();
  gw = await startGatewaySystem({
    name: provider,
    api: 'anthropic',
    base_url: stub.url,
    api_key: PROVIDER_KEY,
  });
  base = gw.base;
  appKey = gw.appKey;
});
afterAll(async () => {
  await gw?.stop();
  await stub?.close();
});

const client = () => new Anthropic({ baseURL: `${base}/gateway/anthropic`, apiKey: appKey, maxRetries: 0 });
const messages = [{ role: 'user' as const, content: 'hello' }];

async function target() {
  const name = uniqueName('gwa');
  const arms = ['a', 'b'].map((id) => ({ id, provider, model: `${name}-${id}` }));
  const r = await call(gw.sys, 'POST', '/v1/targets', {
    name,
    arms,
    segments: ['default'],
    weights: { a: 10_000, b: 0 },
  });
  expect(r.status).toBe(201);
  return name;
}

const countsByArm = (name: string) => gw.metricsByArm(name);

describe('POST /gateway/anthropic/v1/messages', () => {
  it('answers through the official client, routed by the config, with the provider its key', async () => {
    const name = await target();
    const { data, response } = await client()
      .messages.create({ model: name, max_tokens: 64, messages })
      .withResponse();
    expect(data.content[0]).toMatchObject({ type: 'text', text: `hello from ${name}-a` });
    expect(data.usage).toMatchObject({ input_tokens: INPUT_TOKENS, output_tokens: OUTPUT_TOKENS });
    expect(response.headers.get('x-llmopt-arm')).toBe('a');
    expect(response.headers.get('x-llmopt-config-version')).toBe('1');
    const sent = stub.calls.find((c) => c.model === `${name}-a`)!;
    expect(sent.apiKey).toBe(PROVIDER_KEY);
    expect(sent.version).toBeDefined();
  });

  it('streams, with usage recorded from the stream events', async () => {
    const name = await target();
    const stream = client().messages.stream({ model: name, max_tokens: 64, messages });
    const final = await stream.finalMessage();
    expect(final.content[0]).toMatchObject({ type: 'text', text: `hello from ${name}-a` });
    expect(final.usage.output_tokens).toBe(OUTPUT_TOKENS);
    const m = await eventually(async () => {
      const x = await countsByArm(name);
      return x.a?.count === 1 ? x : undefined;
    });
    expect(m.a).toMatchObject({ ok: 1, input: INPUT_TOKENS, output: OUTPUT_TOKENS });
  });

  it('falls back to the next arm when the provider is overloaded (529), recording both attempts', async () => {
    const name = await target();
    stub.behaviours.set(`${name}-a`, { status: 529 });
    const { data, response } = await client()
      .messages.create({ model: name, max_tokens: 64, messages })
      .withResponse();
    expect(response.headers.get('x-llmopt-arm')).toBe('b');
    expect(data.content[0]).toMatchObject({ text: `hello from ${name}-b` });
    const m = await eventually(async () => {
      const x = await countsByArm(name);
      return x.a?.count === 1 && x.b?.count === 1 ? x : undefined;
    });
    expect(m.a).toMatchObject({ ok: 0 });
    expect(m.b).toMatchObject({ ok: 1 });
  });

  it('refuses with a 4xx naming what cannot be translated, never a silent loss', async () => {
    const name = await target();
    const openai = new OpenAI({ baseURL: `${base}/gateway/openai/v1`, apiKey: appKey, maxRetries: 0 });
    const refused = await openai.chat.completions.create({ model: name, messages }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect((refused as Error).message).toMatch(
      /speaks the anthropic API; translating an OpenAI Chat Completions request to it is not supported/,
    );
    expect(stub.calls.filter((c) => c.model.startsWith(name))).toHaveLength(0);

    const bad = await fetch(`${base}/gateway/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': appKey, 'content-type': 'application/json' },
      body: JSON.stringify({ model: name, messages }),
    });
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as { errors: { path: string }[] }).errors[0]!.path).toBe('max_tokens');
  });
});
