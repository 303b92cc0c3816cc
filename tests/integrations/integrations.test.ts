/**
 * Slack, GitHub, Jira and Anthropic against local servers that speak their documented shapes: the
 * bodies and headers we send, 429 and 5xx handling, deduplication, the Slack slash command and inbound
 * GitHub webhooks. Integrations are configured through the API, whose answers never contain secrets.
 */
// The app (and with it @hono/zod-openapi) loads before any other zod schema is built.
import {
  domainEvent,
  startIntegrationSystem,
  startServer,
  type IntegrationSystem,
  type LocalServer,
  type Received,
  takeTurnsWithIntegrationSettings,
} from './fixtures';
import { createHmac } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { MockActivityEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createIntegrationActivities, type IntegrationOptions } from '../../activities/integrations';
import { compose } from '../../app/compose';
import type { Env } from '../../platform/env';
import type { JudgeResult, PromptVariantResult } from '../../activities/integrations/anthropic';
import type { EvalResultEvent } from '../../domain/events';
import { createRolloutsRepo } from '../../adapters/db/repos/rollouts';
import { seedTarget } from '../helpers/rollout';
import { eventually, testEnv, uniqueName } from '../helpers/env';

let s: IntegrationSystem;
let slack: LocalServer;
let github: LocalServer;
let jira: LocalServer;
let anthropic: LocalServer;
const SIGNING_SECRET = 'slack-signing-secret-for-tests';
const GITHUB_HOOK_SECRET = 'github-webhook-secret-for-tests';

takeTurnsWithIntegrationSettings();

beforeAll(async () => {
  s = await startIntegrationSystem();
  slack = await startServer();
  github = await startServer();
  jira = await startServer();
  anthropic = await startServer();
});
afterAll(async () => {
  for (const kind of ['slack', 'github', 'jira', 'anthropic'])
    await s?.api('DELETE', `/v1/integrations/${kind}`);
  await Promise.all([slack, github, jira, anthropic].map((x) => x?.close()));
  await s?.stop();
});

const json = (r: Received) => JSON.parse(r.body);

/** The integrations activities over a container composed with `env` (the test's own settings), closed after the test. */
async function activitiesWith(env: Env, opts: IntegrationOptions = {}) {
  const c = await compose(env, { name: 'test', poolMax: 2 });
  onTestFinished(() => c.close());
  return createIntegrationActivities(c, opts);
}
const notified = (eventId: string) => s.sys.client.workflow.getHandle(`notify-${eventId}`).result();

describe('integration settings API', () => {
  it('stores secrets without ever returning them, and names bad fields', async () => {
    const put = await s.api('PUT', '/v1/integrations/slack', {
      settings: {
        channel: 'C0OPS',
        api_base_url: `${slack.url}/api`,
        user_roles: { U0OPERATOR: 'operator', U0VIEWER: 'viewer' },
      },
      secrets: { bot_token: 'xoxb-test-token', signing_secret: SIGNING_SECRET },
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({
      kind: 'slack',
      enabled: true,
      secrets_set: ['bot_token', 'signing_secret'],
    });
    expect(JSON.stringify(put.body)).not.toContain('xoxb-test-token');
    const read = await s.api('GET', '/v1/integrations/slack');
    expect(JSON.stringify(read.body)).not.toContain(SIGNING_SECRET);

    const bad = await s.api('PUT', '/v1/integrations/jira', {
      settings: { base_url: 'nope', email: 'x', project_key: 'lower' },
      secrets: { api_token: '' },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toEqual(
      expect.arrayContaining([
        'settings.base_url',
        'settings.email',
        'settings.project_key',
        'secrets.api_token',
      ]),
    );
    const privateUrl = await s.api('PUT', '/v1/integrations/slack', {
      settings: {},
      secrets: { webhook_url: 'http://10.0.0.8/hook' },
    });
    expect(privateUrl.status).toBe(422);
    expect(privateUrl.body.errors[0].path).toBe('secrets.webhook_url');
    expect((await s.api('PUT', '/v1/integrations/pagerduty', {})).status).toBe(400);
  });
});

describe('Slack', () => {
  it('posts a Block Kit message for a rollback with the bot token, retrying a 429 after Retry-After', async () => {
    const target = uniqueName('slack-t');
    slack.respond = (req) => {
      const mine = slack.received.filter((r) => json(r).text?.includes(target));
      if (req.path === '/api/chat.postMessage' && mine.length === 1 && json(req).text.includes(target)) {
        return { status: 429, headers: { 'retry-after': '1' }, body: { ok: false, error: 'ratelimited' } };
      }
      return { status: 200, body: { ok: true, channel: 'C0OPS', ts: '1700000000.000100' } };
    };
    const event = domainEvent('rollout.rolled_back', target, {
      rollout_id: 'rollout-x-1',
      reason: 'error rate up 3x',
    });
    await s.publish(event);
    const result = await notified(event.id);
    expect(result.integrations).toContainEqual({
      integration: 'slack',
      status: 'done',
      detail: 'posted C0OPS:1700000000.000100',
    });
    const posts = slack.received.filter((r) => json(r).text?.includes(target));
    expect(posts).toHaveLength(2);
    const post = posts[1]!;
    expect(post.path).toBe('/api/chat.postMessage');
    expect(post.headers.authorization).toBe('Bearer xoxb-test-token');
    expect(post.headers['content-type']).toContain('application/json');
    const body = json(post);
    expect(body.channel).toBe('C0OPS');
    expect(body.blocks[0]).toMatchObject({ type: 'header', text: { type: 'plain_text' } });
    expect(body.blocks[0].text.text).toContain('rolled back');
    expect(JSON.stringify(body.blocks)).toContain('error rate up 3x');
    expect(body.blocks.at(-1)).toMatchObject({ type: 'context' });
  });

  it('does not let a dead Slack hold back webhook delivery of the same event', async () => {
    const target = uniqueName('slack-dead');
    slack.respond = () => ({ status: 503, body: 'unavailable' });
    const hook = await startServer();
    const sub = await s.api('POST', '/v1/webhooks', {
      url: hook.url,
      events: ['anomaly.detected'],
      targets: [target],
    });
    const event = domainEvent('anomaly.detected', target, { metric: 'latency_p99', severity: 'warning' });
    await s.publish(event);
    await eventually(async () => hook.received.length === 1);
    const d = await eventually(async () => {
      const r = await s.api('GET', `/v1/webhooks/${sub.body.id}/deliveries`);
      return r.body.items[0]?.status === 'succeeded' ? r.body.items[0] : undefined;
    });
    expect(d.attempts).toBe(1);
    const result = await notified(event.id);
    expect(result.integrations).toContainEqual(
      expect.objectContaining({ integration: 'slack', status: 'failed' }),
    );
    await hook.close();
    slack.respond = () => ({ status: 200, body: { ok: true, channel: 'C0OPS', ts: '1' } });
  });
});

describe('Slack slash commands', () => {
  let worker: Worker | undefined;
  let run: Promise<void> | undefined;
  let connection: NativeConnection | undefined;
  const queue = uniqueName('slack-rollouts');
  beforeAll(async () => {
    connection = await NativeConnection.connect({ address: testEnv.TEMPORAL_ADDRESS });
    const { code } = await bundleWorkflowCode({
      workflowsPath: fileURLToPath(new URL('./rollout-stand-in.ts', import.meta.url)),
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} },
    });
    worker = await Worker.create({
      connection,
      namespace: testEnv.TEMPORAL_NAMESPACE,
      taskQueue: queue,
      workflowBundle: { code },
    });
    run = worker.run();
  });
  afterAll(async () => {
    worker?.shutdown();
    await run;
    await connection?.close();
  });

  function signed(text: string, user: string, opts: { ageSeconds?: number; secret?: string } = {}) {
    const body = new URLSearchParams({
      command: '/llmopt',
      text,
      user_id: user,
      team_id: 'T0TEAM',
      response_url: 'https://hooks.slack.test/x',
    }).toString();
    const ts = String(Math.floor(Date.now() / 1000) - (opts.ageSeconds ?? 0));
    const sig = `v0=${createHmac('sha256', opts.secret ?? SIGNING_SECRET)
      .update(`v0:${ts}:${body}`)
      .digest('hex')}`;
    return s.app.request('/v1/slack/commands', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-slack-request-timestamp': ts,
        'x-slack-signature': sig,
      },
      body,
    });
  }

  it('pauses and aborts a rollout for an operator, reports status to a viewer, and refuses a viewer pause', async () => {
    const target = await seedTarget(s.sys.deps.repos, { prefix: 'cmd' });
    const rolloutId = `rollout-${target}-d1`;
    // Slack steers rollouts through the same service as the API, which knows a rollout by its row.
    await createRolloutsRepo(s.sys.deps.db).create({
      id: rolloutId,
      decision_id: 'd1',
      target,
      segment: 'default',
      strategy: 'test',
      canary_arm: 'small',
      baseline_arm: 'big',
      stages: [{ canary_bps: 500, bake_seconds: 60, requires_approval: false }],
      from_version: 1,
    });
    const handle = await s.sys.client.workflow.start('rolloutStandIn', {
      taskQueue: queue,
      workflowId: rolloutId,
      args: [{ rolloutId, target }],
    });

    const refused = await signed(`pause ${rolloutId}`, 'U0VIEWER');
    expect(refused.status).toBe(200);
    expect(((await refused.json()) as { text: string }).text).toMatch(/operator/);

    const paused = await signed(`pause ${target} d1 investigating`, 'U0OPERATOR');
    expect(paused.status).toBe(200);
    expect(await paused.json()).toMatchObject({ response_type: 'in_channel' });
    const status = await eventually(async () => {
      const r = await signed(`status ${rolloutId}`, 'U0VIEWER');
      const b = (await r.json()) as { text: string };
      return b.text.includes('paused') ? b : undefined;
    });
    expect(status.text).toContain(rolloutId);

    const stranger = await signed(`status ${rolloutId}`, 'U0STRANGER');
    expect(((await stranger.json()) as { text: string }).text).toMatch(/no role/);

    await signed(`abort ${rolloutId} bad canary`, 'U0OPERATOR');
    expect(await handle.result()).toEqual({ state: 'aborted', by: 'slack:U0OPERATOR' });
    const gone = await signed(`pause ${rolloutId}`, 'U0OPERATOR');
    expect(((await gone.json()) as { text: string }).text).toMatch(/nothing to pause/);
  });

  it('answers 401 for a stale or wrong signature', async () => {
    const stale = await signed('status rollout-x-y', 'U0OPERATOR', { ageSeconds: 6 * 60 });
    expect(stale.status).toBe(401);
    expect(((await stale.json()) as { detail: string }).detail).toMatch(/5 minutes/);
    const wrong = await signed('status rollout-x-y', 'U0OPERATOR', { secret: 'not-the-secret' });
    expect(wrong.status).toBe(401);
    const missing = await s.app.request('/v1/slack/commands', { method: 'POST', body: 'text=status' });
    expect(missing.status).toBe(401);
  });
});

describe('GitHub', () => {
  it('opens one labelled issue per incident, retries a 502, and reopens after the issue is closed', async () => {
    const target = uniqueName('gh');
    let issues = 0;
    let failedOnce = false;
    github.respond = (req) => {
      if (req.path.startsWith('/search/issues'))
        return { status: 200, body: { total_count: 0, incomplete_results: false, items: [] } };
      if (req.method === 'POST' && req.path === '/repos/acme/llm-ops/issues') {
        // Other test files publish rollbacks too: only this test's incidents are counted.
        if (!json(req).title.includes(target))
          return { status: 201, body: { number: 9000, html_url: 'https://github.test/x/9000' } };
        if (!failedOnce) {
          failedOnce = true;
          return { status: 502, body: { message: 'Server Error' } };
        }
        issues += 1;
        return {
          status: 201,
          body: { number: 40 + issues, html_url: `https://github.test/acme/llm-ops/issues/${40 + issues}` },
        };
      }
      return { status: 404, body: { message: 'Not Found' } };
    };
    const put = await s.api('PUT', '/v1/integrations/github', {
      settings: {
        repository: 'acme/llm-ops',
        api_base_url: github.url,
        labels: ['llm-optimizer', 'incident'],
      },
      secrets: { token: 'ghp_testtoken', webhook_secret: GITHUB_HOOK_SECRET },
    });
    expect(put.status).toBe(200);

    const first = domainEvent('rollout.rolled_back', target, {
      rollout_id: 'r-9',
      reason: 'quality dropped',
    });
    await s.publish(first);
    expect((await notified(first.id)).integrations).toContainEqual({
      integration: 'github',
      status: 'done',
      detail: 'issue #41',
    });
    const creates = github.received.filter((r) => r.method === 'POST' && json(r).title.includes(target));
    const create = creates.at(-1)!;
    expect(create.headers.authorization).toBe('Bearer ghp_testtoken');
    expect(create.headers.accept).toBe('application/vnd.github+json');
    expect(create.headers['x-github-api-version']).toBe('2022-11-28');
    expect(create.headers['user-agent']).toBeTruthy();
    const issue = json(create);
    expect(issue.title).toContain(target);
    expect(issue.labels).toEqual(['llm-optimizer', 'incident', 'rollback']);
    expect(issue.body).toContain('llmopt-fingerprint:');
    const search = github.received.find((r) => r.path.startsWith('/search/issues'))!;
    expect(decodeURIComponent(search.path)).toContain('repo:acme/llm-ops');

    // The same rollout rolled back again (another event) is the same incident: no second issue.
    const again = domainEvent('rollout.rolled_back', target, { rollout_id: 'r-9', reason: 'still bad' });
    await s.publish(again);
    expect((await notified(again.id)).integrations).toContainEqual({
      integration: 'github',
      status: 'done',
      detail: 'duplicate of #41',
    });

    // A warning anomaly is not issue-worthy; GitHub is not even asked.
    const warning = domainEvent('anomaly.detected', target, { metric: 'cost', severity: 'warning' });
    await s.publish(warning);
    expect(
      (await notified(warning.id)).integrations.map((i: { integration: string }) => i.integration),
    ).not.toContain('github');

    // Closing the issue on GitHub resolves the incident; a recurrence opens a new issue.
    const payload = JSON.stringify({
      action: 'closed',
      issue: { number: 41 },
      repository: { full_name: 'acme/llm-ops' },
    });
    const sig = `sha256=${createHmac('sha256', GITHUB_HOOK_SECRET).update(payload).digest('hex')}`;
    const closed = await s.app.request('/v1/github/webhooks', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'issues',
        'x-github-delivery': 'abc',
        'x-hub-signature-256': sig,
      },
      body: payload,
    });
    expect(closed.status).toBe(200);
    expect(await closed.json()).toMatchObject({ ok: true, resolved: 1 });
    const recurrence = domainEvent('rollout.rolled_back', target, { rollout_id: 'r-9' });
    await s.publish(recurrence);
    expect((await notified(recurrence.id)).integrations).toContainEqual({
      integration: 'github',
      status: 'done',
      detail: 'issue #42',
    });
  });

  it('refuses inbound GitHub webhooks with a wrong signature', async () => {
    const r = await s.app.request('/v1/github/webhooks', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'ping',
        'x-hub-signature-256': 'sha256=00',
      },
      body: '{"zen":"hi"}',
    });
    expect(r.status).toBe(401);
  });
});

describe('Jira', () => {
  it('creates a rollback issue once (JQL dedup) and transitions it when the next rollout is promoted', async () => {
    const target = uniqueName('jira');
    const open = new Set<string>();
    let labels: string[] = [];
    jira.respond = (req) => {
      if (req.path === '/rest/api/3/search/jql') {
        const { jql } = json(req) as { jql: string };
        const mine = labels.some((l) => l !== 'llmopt-rollback' && jql.includes(`"${l}"`));
        return {
          status: 200,
          body: { issues: mine ? [...open].map((key) => ({ id: '10001', key })) : [], isLast: true },
        };
      }
      if (req.method === 'POST' && req.path === '/rest/api/3/issue') {
        // Other test files publish rollbacks too: only this test's issue is tracked.
        if (!json(req).fields.summary.includes(target))
          return { status: 201, body: { id: '1', key: 'OTHER-1', self: `${jira.url}/x` } };
        labels = json(req).fields.labels;
        open.add('OPS-1');
        return {
          status: 201,
          body: { id: '10001', key: 'OPS-1', self: `${jira.url}/rest/api/3/issue/10001` },
        };
      }
      if (req.method === 'GET' && req.path === '/rest/api/3/issue/OPS-1/transitions') {
        return {
          status: 200,
          body: {
            transitions: [
              { id: '11', name: 'In Progress', to: { statusCategory: { key: 'indeterminate' } } },
              { id: '31', name: 'Done', to: { statusCategory: { key: 'done' } } },
            ],
          },
        };
      }
      if (req.method === 'POST' && req.path === '/rest/api/3/issue/OPS-1/transitions') {
        open.delete('OPS-1');
        return { status: 204 };
      }
      return { status: 404, body: { errorMessages: ['not found'] } };
    };
    const put = await s.api('PUT', '/v1/integrations/jira', {
      settings: { base_url: jira.url, email: 'bot@acme.test', project_key: 'OPS' },
      secrets: { api_token: 'jira-api-token' },
    });
    expect(put.status).toBe(200);

    const rollback = domainEvent('rollout.rolled_back', target, { rollout_id: 'r-1', reason: 'latency' });
    await s.publish(rollback);
    expect((await notified(rollback.id)).integrations).toContainEqual({
      integration: 'jira',
      status: 'done',
      detail: 'created OPS-1',
    });
    const create = jira.received.find(
      (r) => r.method === 'POST' && r.path === '/rest/api/3/issue' && json(r).fields.summary.includes(target),
    )!;
    expect(create.headers.authorization).toBe(
      `Basic ${Buffer.from('bot@acme.test:jira-api-token').toString('base64')}`,
    );
    const fields = json(create).fields;
    expect(fields).toMatchObject({ project: { key: 'OPS' }, issuetype: { name: 'Bug' } });
    expect(fields.summary).toContain(target);
    expect(fields.labels).toContain('llmopt-rollback');
    expect(fields.description).toMatchObject({ type: 'doc', version: 1 });
    const firstSearch = json(
      jira.received.find((r) => r.path === '/rest/api/3/search/jql' && r.body.includes(labels[1]!))!,
    );
    expect(firstSearch.jql).toMatch(
      /project = "OPS" AND labels = "llmopt-[0-9a-f]+" AND statusCategory != Done/,
    );

    const again = domainEvent('rollout.rolled_back', target, { rollout_id: 'r-1' });
    await s.publish(again);
    expect((await notified(again.id)).integrations).toContainEqual({
      integration: 'jira',
      status: 'done',
      detail: 'duplicate of OPS-1',
    });

    const promoted = domainEvent('rollout.promoted', target, { rollout_id: 'r-2' });
    await s.publish(promoted);
    expect((await notified(promoted.id)).integrations).toContainEqual({
      integration: 'jira',
      status: 'done',
      detail: 'resolved OPS-1',
    });
    const transition = jira.received.find((r) => r.method === 'POST' && r.path.endsWith('/transitions'))!;
    expect(json(transition)).toEqual({ transition: { id: '31' } });
  });
});

describe('Anthropic', () => {
  it('judges samples through the Messages API, emits eval.result events and counts tokens and cost', async () => {
    let calls = 0;
    anthropic.respond = (req) => {
      calls += 1;
      if (calls === 1)
        return {
          status: 529,
          body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } },
        };
      const body = json(req);
      const score = body.messages[0].content.includes('wrong answer') ? 0.1 : 0.9;
      return {
        status: 200,
        headers: { 'request-id': `req_${calls}` },
        body: {
          id: `msg_${calls}`,
          type: 'message',
          role: 'assistant',
          model: body.model,
          content: [{ type: 'text', text: `{"score": ${score}, "reason": "checked"}` }],
          stop_reason: 'end_turn',
          stop_sequence: null,
          usage: { input_tokens: 100, output_tokens: 20 },
        },
      };
    };
    const emitted: EvalResultEvent[] = [];
    const env = {
      ...s.env,
      ANTHROPIC_API_KEY: 'sk-ant-test',
      ANTHROPIC_BASE_URL: anthropic.url,
      ANTHROPIC_MODEL: 'claude-test-judge',
      ANTHROPIC_PRICE_INPUT_PER_MTOK: 3,
      ANTHROPIC_PRICE_OUTPUT_PER_MTOK: 15,
    };
    const activities = await activitiesWith(env, {
      emitEvalEvents: async (events) => void emitted.push(...events),
    });
    const target = uniqueName('judge');
    const result: JudgeResult = await new MockActivityEnvironment().run(activities.judgeSamples, {
      target,
      segment: 'default',
      samples: [
        { request_id: 'req-a', arm: 'haiku', input: 'What is 2+2?', output: '4' },
        { request_id: 'req-b', arm: 'haiku', input: 'Capital of France?', output: 'a wrong answer' },
      ],
    });
    expect(result.scored).toEqual([
      { request_id: 'req-a', score: 0.9, reason: 'checked' },
      { request_id: 'req-b', score: 0.1, reason: 'checked' },
    ]);
    expect(result.usage).toMatchObject({
      calls: 2,
      input_tokens: 200,
      output_tokens: 40,
      model: 'claude-test-judge',
    });
    expect(result.usage.cost_usd).toBeCloseTo((200 * 3 + 40 * 15) / 1e6, 10);
    expect(emitted).toEqual([
      expect.objectContaining({
        type: 'eval.result',
        id: 'eval-req-a-claude-test-judge',
        target,
        request_id: 'req-a',
        arm: 'haiku',
        evaluator: 'llm-judge:claude-test-judge',
        score: 0.9,
      }),
      expect.objectContaining({ type: 'eval.result', request_id: 'req-b', score: 0.1 }),
    ]);
    const sent = anthropic.received.at(-1)!;
    expect(sent.path).toBe('/v1/messages');
    // The SDK authenticates with the key as x-api-key or as a bearer token, depending on its version.
    expect(sent.headers['x-api-key'] ?? sent.headers.authorization?.replace(/^Bearer /, '')).toBe(
      'sk-ant-test',
    );
    expect(sent.headers['anthropic-version']).toBeTruthy();
    expect(json(sent)).toMatchObject({
      model: 'claude-test-judge',
      max_tokens: 300,
      messages: [{ role: 'user' }],
    });
    expect(anthropic.received.length).toBe(3); // the 529 was retried by the SDK
  });

  it('proposes prompt variants that keep every placeholder', async () => {
    anthropic.respond = () => ({
      status: 200,
      body: {
        id: 'msg_v',
        type: 'message',
        role: 'assistant',
        model: 'claude-test-judge',
        content: [
          {
            type: 'text',
            text: JSON.stringify({
              variants: [
                { template: 'Answer briefly: {{question}}', rationale: 'shorter' },
                { template: 'Answer briefly.', rationale: 'dropped the placeholder' },
              ],
            }),
          },
        ],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: 50, output_tokens: 30 },
      },
    });
    const env = {
      ...s.env,
      ANTHROPIC_API_KEY: 'sk-ant-test',
      ANTHROPIC_BASE_URL: anthropic.url,
      ANTHROPIC_MODEL: 'claude-test-judge',
    };
    const activities = await activitiesWith(env);
    const r: PromptVariantResult = await new MockActivityEnvironment().run(activities.proposePromptVariants, {
      target: 'support-bot',
      template: 'Please answer the following question: {{question}}',
      objective: 'fewer output tokens at equal quality',
      count: 2,
    });
    expect(r.variants).toEqual([{ template: 'Answer briefly: {{question}}', rationale: 'shorter' }]);
    expect(r.usage).toMatchObject({ calls: 1, input_tokens: 50, output_tokens: 30 });
  });
});
