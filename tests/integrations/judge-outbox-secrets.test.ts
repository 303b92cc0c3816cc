/**
 * The LLM judge end to end (sampled submissions → Temporal Schedule → local Anthropic Messages server →
 * eval.result through the ingest pipeline → quality in the aggregates), the outbox sweeper, secrets
 * sealed at rest, and the notification metrics on the worker's registry.
 */
// The app (and with it @hono/zod-openapi) loads before any other zod schema is built.
import {
  anthropicMessage,
  domainEvent,
  startIntegrationSystem,
  startServer,
  TEST_POLICY,
  type IntegrationSystem,
  type LocalServer,
  takeTurnsWithIntegrationSettings,
} from './fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNotifyStarter, deliveryPolicy } from '../../activities/integrations';
import { ensureJudgeSchedule } from '../../activities/integrations/judge-schedule';
import { sweepOutbox } from '../../activities/integrations/outbox-sweeper';
import { createDomainEventsRepo } from '../../adapters/db/repos/domain-events';
import { createIntegrationsRepo } from '../../adapters/db/repos/integrations';
import { createWebhooksRepo } from '../../adapters/db/repos/webhooks';
import { ConfigError, parseEnv } from '../../platform/env';
import { sampledForJudge } from '../../app/integration-settings';
import { createLogger } from '../../platform/logger';
import { createSecretBox, isSealed, secretBoxFromEnv, SecretDecryptionError } from '../../platform/secrets';
import type { JudgeRunResult } from '../../workflows/notify-types';
import { eventually, uniqueName } from '../helpers/env';

let s: IntegrationSystem;
let anthropic: LocalServer;
let hook: LocalServer;

takeTurnsWithIntegrationSettings();

beforeAll(async () => {
  s = await startIntegrationSystem({}, { ingest: true });
  anthropic = await startServer();
  hook = await startServer(() => ({ status: 204 }));
});
afterAll(async () => {
  await s?.api('DELETE', '/v1/integrations/anthropic');
  await Promise.all([anthropic, hook].map((x) => x?.close()));
  await s?.stop();
});

const BASE = Date.now() - 60_000;

describe('LLM judge over sampled requests', () => {
  it('samples by the target rate, judges on the schedule and shows the scores in the aggregates', async () => {
    const target = uniqueName('judged');
    const other = uniqueName('unsampled');
    anthropic.respond = (req) => {
      const body = JSON.parse(req.body) as { messages: { content: string }[] };
      const score = body.messages[0]!.content.includes('a wrong answer') ? 0.2 : 0.8;
      return anthropicMessage(`{"score": ${score}, "reason": "graded"}`, {
        input_tokens: 120,
        output_tokens: 10,
      });
    };
    const put = await s.api('PUT', '/v1/integrations/anthropic', {
      settings: {
        base_url: anthropic.url,
        model: 'claude-test-judge',
        price_input_per_mtok: 3,
        price_output_per_mtok: 15,
        judge_sample_rates: { [target]: 1, [other]: 0 },
      },
      secrets: { api_key: 'sk-ant-judge' },
    });
    expect(put.status).toBe(200);

    // The requests themselves, then their text for the judge.
    const ids = Array.from({ length: 4 }, (_, i) => `${target}-r${i}`);
    const requests = ids.map((request_id, i) => ({
      type: 'llm.request',
      id: `${request_id}-evt`,
      timestamp: new Date(BASE + i * 100).toISOString(),
      target,
      arm: 'haiku',
      request_id,
      model: 'claude-3-5-haiku',
      provider: 'anthropic',
      latency_ms: 300,
      input_tokens: 10,
      output_tokens: 5,
      cost_usd: 0.001,
      status: 'ok',
    }));
    expect((await s.api('POST', '/v1/events', requests)).status).toBe(202);
    const submitted = await s.api('POST', '/v1/events/judge-samples', {
      samples: [
        ...ids.map((request_id, i) => ({
          request_id,
          target,
          arm: 'haiku',
          input: `question ${i}`,
          output: i === 3 ? 'a wrong answer' : `a fine answer ${i}`,
        })),
        { request_id: `${other}-r0`, target: other, input: 'q', output: 'a' },
      ],
    });
    expect(submitted.status).toBe(202);
    expect(submitted.body).toEqual({
      received: 5,
      sampled: 4,
      stored: 4,
      rates: { [target]: 1, [other]: 0 },
    });
    const bad = await s.api('POST', '/v1/events/judge-samples', { samples: [{ request_id: 'x', target }] });
    expect(bad.status).toBe(422);

    // The schedule the worker creates at start, triggered now instead of waiting for its interval.
    const env = { ...s.env, TASK_QUEUE_INTEGRATIONS: s.sys.taskQueues.integrations, JUDGE_INTERVAL_S: 3600 };
    const scheduleId = await ensureJudgeSchedule(s.sys.client, env);
    const schedule = s.sys.client.schedule.getHandle(scheduleId);
    try {
      await schedule.trigger();
      const run = await eventually(async () => (await schedule.describe()).info.recentActions[0]?.action, {
        what: 'the schedule to start a judge run',
      });
      const result = (await s.sys.client.workflow
        .getHandle(run.workflow.workflowId)
        .result()) as JudgeRunResult;
      // Samples of other tests may be pending in the shared database; ours are among the scored.
      expect(result.status).toBe('judged');
      expect(result.scored).toBeGreaterThanOrEqual(4);
      expect(result.input_tokens).toBe(120 * (result.scored + result.unparseable));
      expect(result.cost_usd).toBeCloseTo((result.input_tokens * 3 + result.output_tokens * 15) / 1e6, 9);
    } finally {
      await schedule.delete();
    }

    const rows = await s.sys.deps.db.query<{
      request_id: string;
      score: number;
      input_tokens: number;
      cost_usd: number;
    }>(
      `SELECT request_id, score, input_tokens, cost_usd FROM judge_samples WHERE target = $1 ORDER BY request_id`,
      [target],
    );
    expect(rows.rows.map((r) => [r.request_id, r.score, r.input_tokens])).toEqual(
      ids.map((id, i) => [id, i === 3 ? 0.2 : 0.8, 120]),
    );
    expect(rows.rows[0]!.cost_usd).toBeCloseTo((120 * 3 + 10 * 15) / 1e6, 12);
    const judged = anthropic.received.filter((r) =>
      ids.some((id) => r.body.includes(`question ${ids.indexOf(id)}`)),
    );
    expect(judged.length).toBeGreaterThanOrEqual(4);
    expect(judged[0]!.headers['x-api-key'] ?? judged[0]!.headers.authorization).toContain('sk-ant-judge');

    // The eval.result events went through the ingest pipeline into the target's quality aggregates.
    await s.sys.ingest!.pipeline.drain();
    const quality = await eventually(
      async () => {
        const from = new Date(BASE - 3_600_000).toISOString();
        const to = new Date(Date.now() + 60_000).toISOString();
        const r = await s.api('GET', `/v1/targets/${target}/metrics?from=${from}&to=${to}&step=1d`);
        const series = (
          r.body as {
            series?: { arm: string; points: { quality: { count: number; mean: number | null } }[] }[];
          }
        ).series;
        const q = series
          ?.find((x) => x.arm === 'haiku')
          ?.points.reduce(
            (a, p) => ({
              count: a.count + p.quality.count,
              sum: a.sum + p.quality.count * (p.quality.mean ?? 0),
            }),
            { count: 0, sum: 0 },
          );
        return q && q.count === 4 ? q : undefined;
      },
      { what: 'the judge scores in the aggregates' },
    );
    expect(quality.sum / quality.count).toBeCloseTo((0.8 * 3 + 0.2) / 4, 9);

    const text = await s.sys.container.metrics.registry.metrics();
    expect(text).toMatch(/llmopt_judge_samples_total\{outcome="scored"[^}]*\} [1-9]/);
    expect(text).toMatch(/llmopt_judge_tokens_total\{use="judge",direction="input"[^}]*\} [1-9]/);
    expect(text).toMatch(/llmopt_judge_cost_usd_total\{use="judge"[^}]*\} [0-9.e-]+/);
  }, 120_000);

  it('keeps a deterministic share of requests at a fractional rate', () => {
    const ids = Array.from({ length: 2000 }, (_, i) => `req-${i}`);
    const kept = ids.filter((id) => sampledForJudge(id, 0.1)).length;
    expect(kept).toBeGreaterThan(150);
    expect(kept).toBeLessThan(250);
    expect(ids.filter((id) => sampledForJudge(id, 0.1)).length).toBe(kept);
  });
});

describe('outbox sweeper', () => {
  it('starts the notify run of an event stored without one, exactly once', async () => {
    const target = uniqueName('swept');
    const sub = await s.api('POST', '/v1/webhooks', {
      url: `${hook.url}/swept`,
      events: ['*'],
      targets: [target],
    });
    expect(sub.status).toBe(201);
    const events = createDomainEventsRepo(s.sys.deps.db);
    // The publisher died after the insert: the event is in the outbox, its notify run never started.
    const event = domainEvent('rollout.rolled_back', target, { rollout_id: 'r-swept' });
    expect(await events.insert(event)).toBe(true);
    // Ten days old, so the sweep's window holds this event and no other test's.
    await s.sys.deps.db.query(
      `UPDATE domain_events SET created_at = now() - interval '10 days' WHERE id = $1`,
      [event.id],
    );
    const deps = {
      events,
      deliver: createNotifyStarter({
        client: s.sys.client,
        taskQueue: s.sys.taskQueues.integrations,
        policy: deliveryPolicy(s.env, TEST_POLICY),
      }),
      logger: createLogger('test', 'silent'),
      graceMs: 10 * 86_400_000 - 3_600_000,
      maxAgeMs: 10 * 86_400_000 + 3_600_000,
    };
    // Two sweepers racing (two worker replicas): the workflow id admits one run.
    const started = await Promise.all([sweepOutbox(deps), sweepOutbox(deps)]);
    expect(started.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1);
    const result = (await s.sys.client.workflow.getHandle(`notify-${event.id}`).result()) as {
      deliveries: { status: string }[];
    };
    expect(result.deliveries).toEqual([expect.objectContaining({ status: 'succeeded' })]);
    expect(await sweepOutbox(deps)).toBe(0);
    expect(hook.received.filter((r) => r.headers['x-llmopt-event-id'] === event.id)).toHaveLength(1);
    const marked = await s.sys.deps.db.query(`SELECT notify_started_at FROM domain_events WHERE id = $1`, [
      event.id,
    ]);
    expect(marked.rows[0].notify_started_at).not.toBeNull();
  }, 60_000);

  it('leaves alone an event whose publisher started its run', async () => {
    const event = domainEvent('decision.created', uniqueName('published'));
    await s.publish(event);
    const row = await s.sys.deps.db.query(`SELECT notify_started_at FROM domain_events WHERE id = $1`, [
      event.id,
    ]);
    expect(row.rows[0].notify_started_at).not.toBeNull();
  });
});

describe('secrets at rest', () => {
  it('stores integration and webhook secrets sealed, and still uses them', async () => {
    const put = await s.api('PUT', '/v1/integrations/anthropic', {
      settings: { base_url: anthropic.url, model: 'claude-test-judge' },
      secrets: { api_key: 'sk-ant-very-secret' },
    });
    expect(put.status).toBe(200);
    expect(JSON.stringify(put.body)).not.toContain('sk-ant-very-secret');
    const raw = await s.sys.deps.db.query<{ secrets: Record<string, string> }>(
      `SELECT secrets FROM integration_configs WHERE kind = 'anthropic'`,
    );
    expect(isSealed(raw.rows[0]!.secrets.api_key!)).toBe(true);
    expect(JSON.stringify(raw.rows)).not.toContain('sk-ant-very-secret');
    const box = secretBoxFromEnv(s.env);
    expect((await createIntegrationsRepo(s.sys.deps.db, box).get('anthropic'))!.secrets.api_key).toBe(
      'sk-ant-very-secret',
    );

    const created = await s.api('POST', '/v1/webhooks', { url: `${hook.url}/sealed`, events: ['*'] });
    const stored = await s.sys.deps.db.query<{ secret: string }>(
      `SELECT secret FROM webhook_subscriptions WHERE id = $1`,
      [created.body.id],
    );
    expect(isSealed(stored.rows[0]!.secret)).toBe(true);
    expect(stored.rows[0]!.secret).not.toContain(created.body.secret);
    const target = await createWebhooksRepo(s.sys.deps.db, box).deliveryTarget(created.body.id);
    expect(target!.secrets).toEqual([created.body.secret]);
    await s.api('DELETE', `/v1/webhooks/${created.body.id}`);
  });

  it('seals rows written before encryption and re-seals under a rotated key', async () => {
    const old = createSecretBox({ id: 'old', key: Buffer.alloc(32, 1) });
    const repoOld = createIntegrationsRepo(s.sys.deps.db, old);
    // A row as written before encryption existed: the secret in plain text.
    await s.sys.deps.db.query(
      `INSERT INTO integration_configs (kind, settings, secrets) VALUES ('jira', $1, $2)
       ON CONFLICT (kind) DO UPDATE SET settings = EXCLUDED.settings, secrets = EXCLUDED.secrets`,
      [
        JSON.stringify({ base_url: 'https://jira.example.com', email: 'a@b.c', project_key: 'OPS' }),
        JSON.stringify({ api_token: 'plain-jira-token' }),
      ],
    );
    try {
      expect((await repoOld.resealSecrets()).resealed).toBeGreaterThanOrEqual(1);
      const sealedOld = await s.sys.deps.db.query<{ secrets: Record<string, string> }>(
        `SELECT secrets FROM integration_configs WHERE kind = 'jira'`,
      );
      expect(sealedOld.rows[0]!.secrets.api_token).toMatch(/^enc:v1:old:/);
      expect((await repoOld.get('jira'))!.secrets.api_token).toBe('plain-jira-token');

      // Rotation: the new key seals, the old one still opens until the sweep re-seals.
      const rotated = createSecretBox({ id: 'new', key: Buffer.alloc(32, 2) }, [
        { id: 'old', key: Buffer.alloc(32, 1) },
      ]);
      const repoNew = createIntegrationsRepo(s.sys.deps.db, rotated);
      expect((await repoNew.get('jira'))!.secrets.api_token).toBe('plain-jira-token');
      expect((await repoNew.resealSecrets()).resealed).toBeGreaterThanOrEqual(1);
      const sealedNew = await s.sys.deps.db.query<{ secrets: Record<string, string> }>(
        `SELECT secrets FROM integration_configs WHERE kind = 'jira'`,
      );
      expect(sealedNew.rows[0]!.secrets.api_token).toMatch(/^enc:v1:new:/);
      expect(
        (await createIntegrationsRepo(
          s.sys.deps.db,
          createSecretBox({ id: 'new', key: Buffer.alloc(32, 2) }),
        ).get('jira'))!.secrets.api_token,
      ).toBe('plain-jira-token');
      await expect(repoOld.get('jira')).rejects.toBeInstanceOf(SecretDecryptionError);
    } finally {
      await s.sys.deps.db.query(`DELETE FROM integration_configs WHERE kind = 'jira'`);
    }
  });

  it('refuses a tampered or misplaced ciphertext, and a bad or missing key', () => {
    const box = createSecretBox({ id: 'k', key: Buffer.alloc(32, 7) });
    const sealed = box.seal('token', 'integration:slack:bot_token');
    expect(box.open(sealed, 'integration:slack:bot_token')).toBe('token');
    expect(() => box.open(sealed, 'integration:github:token')).toThrow(SecretDecryptionError);
    const tampered = sealed.slice(0, -2) + (sealed.endsWith('A') ? 'BB' : 'AA');
    expect(() => box.open(tampered, 'integration:slack:bot_token')).toThrow(SecretDecryptionError);
    expect(() => parseEnv({ SECRETS_KEY: 'too-short' })).toThrow(
      /SECRETS_KEY: must be 32 random bytes in base64/,
    );
    expect(() => secretBoxFromEnv(parseEnv({ NODE_ENV: 'production' }))).toThrow(ConfigError);
    expect(() => secretBoxFromEnv(parseEnv({ NODE_ENV: 'production' }))).toThrow(
      /SECRETS_KEY: must be set in production/,
    );
  });
});

describe('notification metrics', () => {
  it('counts attempts by outcome and status class, latency, dead letters and breaker state', async () => {
    const target = uniqueName('metered');
    let n = 0;
    const flaky = await startServer(() => (n++ === 0 ? { status: 503 } : { status: 200, body: 'ok' }));
    const gone = await startServer(() => ({ status: 400, body: 'no' }));
    try {
      for (const url of [flaky.url, gone.url])
        expect((await s.api('POST', '/v1/webhooks', { url, events: ['*'], targets: [target] })).status).toBe(
          201,
        );
      const event = domainEvent('rollout.rolled_back', target, { rollout_id: 'r-metered' });
      await s.publish(event);
      await s.sys.client.workflow.getHandle(`notify-${event.id}`).result();
      const text = await s.sys.container.metrics.registry.metrics();
      expect(text).toMatch(
        /llmopt_webhook_delivery_attempts_total\{outcome="succeeded",status_class="2xx"[^}]*\} [1-9]/,
      );
      expect(text).toMatch(
        /llmopt_webhook_delivery_attempts_total\{outcome="retry",status_class="5xx"[^}]*\} [1-9]/,
      );
      expect(text).toMatch(
        /llmopt_webhook_delivery_attempts_total\{outcome="rejected",status_class="4xx"[^}]*\} [1-9]/,
      );
      expect(text).toMatch(
        /llmopt_webhook_attempt_duration_seconds_count\{[^}]*status_class="2xx"[^}]*\} [1-9]/,
      );
      expect(text).toMatch(/llmopt_webhook_dead_letters_total\{reason="rejected"[^}]*\} [1-9]/);
      // The judge test above used Anthropic through the breaker: its state is reported (closed).
      expect(text).toMatch(/llmopt_integration_circuit_state\{integration="anthropic"[^}]*\} 0/);
    } finally {
      await Promise.all([flaky.close(), gone.close()]);
    }
  }, 60_000);
});
