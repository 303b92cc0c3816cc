/**
 * POST /v1/integrations/{kind}/test sends a test message the way a real Slack notification goes (the
 * same settings, message builder, outbound guard and timeout) to a local server speaking Slack's Web API,
 * and answers what happened: delivered with the status, or the precise failure.
 */
// The app (and with it @hono/zod-openapi) loads before any other zod schema is built.
import {
  integrationEnv,
  startServer,
  takeTurnsWithIntegrationSettings,
  type LocalServer,
} from '../integrations/fixtures';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { call, startTestSystem, type CallTarget, type TestSystem } from '../helpers/system';

let sys: TestSystem;
/** An app allowed to call loopback addresses (the local Slack), with a short outbound timeout. */
let api: CallTarget;
let slack: LocalServer;

takeTurnsWithIntegrationSettings();

beforeAll(async () => {
  sys = await startTestSystem({ workers: false });
  api = {
    app: createApp({ ...sys.deps, env: integrationEnv({ WEBHOOK_TIMEOUT_MS: '700' }) }),
    adminKey: sys.adminKey,
  };
  slack = await startServer();
}, 120_000);
afterAll(async () => {
  await call(api, 'DELETE', '/v1/integrations/slack');
  await slack?.close();
  await sys?.stop();
});

const configure = (enabled = true) =>
  call(api, 'PUT', '/v1/integrations/slack', {
    enabled,
    settings: { channel: 'C0TEST', api_base_url: `${slack.url}/api` },
    secrets: { bot_token: 'xoxb-test-token' },
  });

beforeEach(async () => {
  slack.received.length = 0;
  expect((await configure()).status).toBe(200);
});

describe('a Slack test message', () => {
  it('is posted through chat.postMessage and answered delivered with the status', async () => {
    slack.respond = () => ({ status: 200, body: { ok: true, channel: 'C0TEST', ts: '1700000000.000100' } });
    const r = await call(api, 'POST', '/v1/integrations/slack/test');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      kind: 'slack',
      delivered: true,
      outcome: 'delivered',
      status: 200,
      destination: `127.0.0.1:${slack.port}`,
    });
    expect(r.body.detail).toContain('C0TEST:1700000000.000100');
    expect(slack.received).toHaveLength(1);
    const [post] = slack.received;
    expect(post!.path).toBe('/api/chat.postMessage');
    expect(post!.headers.authorization).toBe('Bearer xoxb-test-token');
    const message = JSON.parse(post!.body) as { channel: string; text: string; blocks: unknown[] };
    expect(message.channel).toBe('C0TEST');
    expect(message.text).toContain('Test message from llm-auto-optimizer');
    expect(message.blocks.length).toBeGreaterThan(0);

    // A test is not remembered as posted: the next one is sent again.
    expect((await call(api, 'POST', '/v1/integrations/slack/test')).body.delivered).toBe(true);
    expect(slack.received).toHaveLength(2);
  });

  it("says Slack refused it, with Slack's error", async () => {
    slack.respond = () => ({ status: 200, body: { ok: false, error: 'channel_not_found' } });
    const r = await call(api, 'POST', '/v1/integrations/slack/test');
    expect(r.body).toMatchObject({ delivered: false, outcome: 'rejected', status: 200 });
    expect(r.body.detail).toContain('channel_not_found');
  });

  it('says the destination was unavailable, with its status', async () => {
    slack.respond = () => ({ status: 503, body: 'down for maintenance' });
    const r = await call(api, 'POST', '/v1/integrations/slack/test');
    expect(r.body).toMatchObject({ delivered: false, outcome: 'unavailable', status: 503 });
  });

  it('says it timed out when no answer comes within the timeout', async () => {
    let answer: () => void = () => undefined;
    const late = new Promise<void>((resolve) => (answer = resolve));
    slack.respond = async () => {
      await late;
      return { status: 200, body: { ok: true } };
    };
    try {
      const r = await call(api, 'POST', '/v1/integrations/slack/test');
      expect(r.body).toMatchObject({ delivered: false, outcome: 'timeout', status: null });
    } finally {
      answer();
    }
  });

  it('says the outbound guard refused the address where loopback is not allowed, sending nothing', async () => {
    const r = await call(sys, 'POST', '/v1/integrations/slack/test');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ delivered: false, outcome: 'blocked', status: null });
    expect(r.body.detail).toMatch(/not a public address/);
    expect(slack.received).toHaveLength(0);
  });

  it('says Slack is not configured when it is disabled', async () => {
    expect((await configure(false)).status).toBe(200);
    const r = await call(api, 'POST', '/v1/integrations/slack/test');
    expect(r.body).toMatchObject({ delivered: false, outcome: 'not_configured', status: null });
    expect(slack.received).toHaveLength(0);
  });
});

describe('the test operation', () => {
  it('answers unsupported for a kind without a harmless test message', async () => {
    const r = await call(api, 'POST', '/v1/integrations/github/test');
    expect(r.body).toMatchObject({ kind: 'github', delivered: false, outcome: 'unsupported' });
  });

  it('needs webhooks:write, and is audited', async () => {
    const analyst = await sys.keyFor('analyst');
    const refused = await call(api, 'POST', '/v1/integrations/slack/test', undefined, {}, { auth: analyst });
    expect(refused.status).toBe(403);
    expect(refused.body.detail).toContain('webhooks:write');
    slack.respond = () => ({ status: 200, body: { ok: true, channel: 'C0TEST', ts: '1.2' } });
    const operator = await sys.keyFor('operator');
    expect(
      (await call(api, 'POST', '/v1/integrations/slack/test', undefined, {}, { auth: operator })).body
        .delivered,
    ).toBe(true);
    const audit = await call(sys, 'GET', '/v1/audit?action=POST%20%2Fv1%2Fintegrations%2F%7Bkind%7D%2Ftest');
    expect(audit.body.items.some((i: { roles: string[] }) => i.roles.includes('operator'))).toBe(true);
  });

  it('names the kind when it is unknown', async () => {
    const r = await call(api, 'POST', '/v1/integrations/pager/test');
    expect(r.status).toBe(400);
    expect(r.body.errors[0].path).toContain('kind');
  });
});
