/**
 * The Anthropic client under the destination rules: its base URL is configurable, so the official SDK's
 * requests go through the guarded client like every other integration. A stand-in for the API on
 * 127.0.0.2 (the only address the rules allow) answers as the real one would, or redirects to a server
 * on 127.0.0.1; the redirect must not be followed and the stand-in's name must be resolved under the rules.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAnthropicActivities } from '../../activities/integrations/anthropic';
import { createIsolation } from '../../activities/integrations/isolation';
import type { AnthropicSettings } from '../../app/integration-settings';
import { createLogger } from '../../platform/logger';
import { destinationPolicy } from '../../platform/outbound';

interface Local {
  url: string;
  port: number;
  hits: { method: string; path: string; body: string }[];
  answer: (path: string) => { status: number; headers?: Record<string, string>; body?: string };
  server: Server;
}

async function listen(host: string): Promise<Local> {
  const local: Local = {
    url: '',
    port: 0,
    hits: [],
    answer: () => ({ status: 500 }),
    server: createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        local.hits.push({
          method: req.method ?? '',
          path: req.url ?? '',
          body: Buffer.concat(chunks).toString(),
        });
        const a = local.answer(req.url ?? '');
        res.writeHead(a.status, a.headers);
        res.end(a.body);
      });
    }),
  };
  local.server.keepAliveTimeout = 1;
  await new Promise<void>((r) => local.server.listen(0, host, r));
  local.port = (local.server.address() as AddressInfo).port;
  local.url = `http://${host}:${local.port}`;
  return local;
}

const message = {
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  model: 'claude-test-judge',
  content: [{ type: 'text', text: '{"score": 0.8, "reason": "fine"}' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 10, output_tokens: 5 },
};

describe('the Anthropic client under the destination rules', () => {
  let api: Local;
  let inside: Local;
  beforeAll(async () => {
    api = await listen('127.0.0.2');
    inside = await listen('127.0.0.1');
  });
  afterAll(async () => {
    await Promise.all([api, inside].map((l) => new Promise((r) => l.server.close(r))));
  });
  afterEach(() => {
    api.hits.length = 0;
    inside.hits.length = 0;
  });

  const judgeThrough = (baseUrl: string) => {
    const destinations = destinationPolicy({
      WEBHOOK_ALLOW_PRIVATE_DESTINATIONS: false,
      WEBHOOK_ALLOWED_DESTINATIONS: '127.0.0.2',
    });
    const settings: AnthropicSettings = {
      apiKey: 'sk-ant-admin-entered',
      baseUrl,
      model: 'claude-test-judge',
      priceInputPerMTok: 3,
      priceOutputPerMTok: 15,
      promptTemplates: {},
      proposalCount: 3,
    };
    const activities = createAnthropicActivities({
      settings: { anthropic: () => Promise.resolve(settings) },
      isolation: createIsolation(
        { ratePerSecond: 100, errorPercent: 50, resetMs: 1000, timeoutMs: 3000 },
        destinations,
      ),
      destinations,
      logger: createLogger('test', 'silent'),
      emit: () => Promise.resolve(),
      maxRetries: 1,
      timeoutMs: 3000,
    });
    return activities.judgeSamples({
      target: 'support-bot',
      segment: 'default',
      samples: [{ request_id: 'req-1', input: 'What is 2+2?', output: '4' }],
    });
  };

  it('speaks the SDK wire format through the guarded client', async () => {
    api.answer = () => ({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(message),
    });
    const result = await judgeThrough(api.url);
    expect(result.scored).toEqual([{ request_id: 'req-1', score: 0.8, reason: 'fine' }]);
    expect(api.hits.map((h) => `${h.method} ${h.path}`)).toEqual(['POST /v1/messages']);
    expect(JSON.parse(api.hits[0]!.body)).toMatchObject({ model: 'claude-test-judge', max_tokens: 300 });
  });

  it('refuses a 307 to a loopback port: nothing reaches the redirect target', async () => {
    api.answer = (path) => ({ status: 307, headers: { location: `${inside.url}${path}` } });
    const failure = await judgeThrough(api.url).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'DeliveryRejected', nonRetryable: true });
    expect((failure as Error).message).toMatch(/answered 307: redirects are not followed/);
    expect(api.hits.length).toBeGreaterThan(0);
    expect(inside.hits).toEqual([]);
  });

  it('checks the address the base URL resolves to when it connects', async () => {
    // localhost resolves to loopback, which the rules do not allow (only 127.0.0.2 is).
    const failure = await judgeThrough(`http://localhost:${inside.port}`).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toMatchObject({ type: 'DeliveryRejected', nonRetryable: true });
    expect((failure as Error).message).toMatch(/localhost resolves to a non-public address/);
    expect(inside.hits).toEqual([]);
  });
});
