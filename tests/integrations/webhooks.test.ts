/**
 * Webhooks end to end over the real Temporal server and PostgreSQL: a subscriber on loopback verifies
 * our signatures; retries, dead letters, 410, redirects to private addresses and secret rotation behave
 * as documented, and every attempt is readable through the API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySignature } from '../../activities/integrations/signature';
import { eventually, uniqueName } from '../helpers/env';
import {
  domainEvent,
  startIntegrationSystem,
  startServer,
  type IntegrationSystem,
  type LocalServer,
} from './fixtures';

let s: IntegrationSystem;
const servers: LocalServer[] = [];
beforeAll(async () => {
  s = await startIntegrationSystem();
});
afterAll(async () => {
  await Promise.all(servers.map((x) => x.close()));
  await s?.stop();
});

async function subscriber(respond?: LocalServer['respond']): Promise<LocalServer> {
  const server = await startServer(respond);
  servers.push(server);
  return server;
}

async function subscribe(url: string, target: string, events: string[] = ['*']) {
  const r = await s.api('POST', '/v1/webhooks', { url, events, targets: [target] });
  expect(r.status).toBe(201);
  return r.body as { id: string; secret: string };
}

async function settled(subscriptionId: string) {
  return eventually(
    async () => {
      const r = await s.api('GET', `/v1/webhooks/${subscriptionId}/deliveries`);
      const items = r.body.items as { status: string }[];
      return items.length > 0 && items.every((d) => d.status !== 'pending') ? r.body.items : undefined;
    },
    { what: 'the delivery to settle', timeoutMs: 30_000 },
  );
}

describe('webhook delivery', () => {
  it('delivers a signed event that the subscriber verifies, and logs the attempt', async () => {
    const target = uniqueName('wh-target');
    const hook = await subscriber();
    const sub = await subscribe(`${hook.url}/hooks`, target);
    expect(sub.secret).toMatch(/^whsec_/);
    const read = await s.api('GET', `/v1/webhooks/${sub.id}`);
    expect(read.status).toBe(200);
    expect(read.body).not.toHaveProperty('secret');

    const event = domainEvent('rollout.rolled_back', target, {
      rollout_id: 'r-1',
      reason: 'p99 latency regressed',
    });
    expect(await s.publish(event)).toEqual({ stored: true });

    const got = await eventually(async () => hook.received[0], { what: 'the webhook to arrive' });
    expect(got.method).toBe('POST');
    expect(got.path).toBe('/hooks');
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['x-llmopt-event-id']).toBe(event.id);
    expect(got.headers['x-llmopt-event-type']).toBe('rollout.rolled_back');
    expect(verifySignature(got.headers['x-llmopt-signature'] as string, got.body, sub.secret)).toBe(true);
    expect(verifySignature(got.headers['x-llmopt-signature'] as string, got.body, 'whsec_wrong')).toBe(false);
    expect(verifySignature(got.headers['x-llmopt-signature'] as string, `${got.body} `, sub.secret)).toBe(
      false,
    );
    expect(JSON.parse(got.body)).toEqual(event);

    const [delivery] = await settled(sub.id);
    expect(delivery).toMatchObject({
      event_id: event.id,
      status: 'succeeded',
      attempts: 1,
      last_status: 200,
    });
    expect(delivery.attempt_log).toEqual([
      expect.objectContaining({ attempt: 1, status_code: 200, response_body: 'ok', signatures: 1 }),
    ]);
  });

  it('notifies an event once however often its publisher retries, and honours the event and target filters', async () => {
    const target = uniqueName('wh-dedup');
    const hook = await subscriber();
    const anomalies = await subscriber();
    const sub = await subscribe(hook.url, target, ['rollout.promoted']);
    await subscribe(anomalies.url, target, ['anomaly.detected']);
    const event = domainEvent('rollout.promoted', target);
    expect(await s.publish(event)).toEqual({ stored: true });
    expect(await s.publish(event)).toEqual({ stored: false });
    expect(await s.publish(domainEvent('rollout.promoted', uniqueName('other-target')))).toEqual({
      stored: true,
    });
    await settled(sub.id);
    const handle = s.sys.client.workflow.getHandle(`notify-${event.id}`);
    await handle.result();
    expect(hook.received.map((r) => r.headers['x-llmopt-event-id'])).toEqual([event.id]);
    expect(anomalies.received).toHaveLength(0);
  });

  it('retries 500 three times with backoff, then succeeds on the 200, logging every attempt', async () => {
    const target = uniqueName('wh-retry');
    const hook = await subscriber((_req, n) =>
      n < 3 ? { status: 500, body: 'boom' } : { status: 200, body: 'fine' },
    );
    const sub = await subscribe(hook.url, target);
    const event = domainEvent('decision.created', target);
    await s.publish(event);
    const [delivery] = await settled(sub.id);
    expect(delivery).toMatchObject({ status: 'succeeded', attempts: 4, last_status: 200 });
    expect(delivery.attempt_log.map((a: { status_code: number }) => a.status_code)).toEqual([
      500, 500, 500, 200,
    ]);
    expect(delivery.attempt_log[0].response_body).toBe('boom');
    expect(new Set(hook.received.map((r) => r.headers['x-llmopt-event-id']))).toEqual(new Set([event.id]));
    expect(hook.received.map((r) => r.headers['x-llmopt-delivery-attempt'])).toEqual(['1', '2', '3', '4']);
  });

  it('dead-letters after the last attempt, lists it, and redelivers it on request', async () => {
    const target = uniqueName('wh-dead');
    let healthy = false;
    const hook = await subscriber(() => (healthy ? { status: 204 } : { status: 503, body: 'down' }));
    const sub = await subscribe(hook.url, target);
    const event = domainEvent('cycle.failed', target);
    await s.publish(event);
    const [dead] = await settled(sub.id);
    expect(dead).toMatchObject({
      status: 'dead_lettered',
      attempts: 4,
      dead_letter_reason: 'attempts_exhausted',
      last_status: 503,
    });

    const letters = await s.api('GET', `/v1/webhooks/${sub.id}/deliveries?status=dead_lettered`);
    expect(letters.body.items.map((d: { id: string }) => d.id)).toEqual([dead.id]);

    healthy = true;
    const again = await s.api('POST', `/v1/webhooks/${sub.id}/deliveries/${dead.id}/redeliver`);
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ redelivery_of: dead.id, event_id: event.id, status: 'pending' });
    const done = await eventually(async () => {
      const r = await s.api('GET', `/v1/webhooks/${sub.id}/deliveries/${again.body.id}`);
      return r.body.status === 'succeeded' ? r.body : undefined;
    });
    expect(done.attempt_log).toHaveLength(1);
    expect(hook.received.at(-1)!.headers['x-llmopt-event-id']).toBe(event.id);
  });

  it('honours Retry-After on 429', async () => {
    const target = uniqueName('wh-429');
    const hook = await subscriber((_r, n) =>
      n === 0 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 200 },
    );
    const sub = await subscribe(hook.url, target);
    await s.publish(domainEvent('budget.threshold_crossed', target));
    const [delivery] = await settled(sub.id);
    expect(delivery.status).toBe('succeeded');
    // The retry waited for the subscriber's Retry-After (2 s), far beyond the longest backoff (400 ms).
    expect(hook.received[1]!.at - hook.received[0]!.at).toBeGreaterThan(1_500);
  });

  it('does not retry a 4xx other than 408/429, and a 410 Gone disables the subscription', async () => {
    const target = uniqueName('wh-4xx');
    const bad = await subscriber(() => ({ status: 400, body: 'no' }));
    const gone = await subscriber(() => ({ status: 410 }));
    const subBad = await subscribe(bad.url, target);
    const subGone = await subscribe(gone.url, target);
    await s.publish(domainEvent('rollout.started', target));
    const [rejected] = await settled(subBad.id);
    expect(rejected).toMatchObject({
      status: 'dead_lettered',
      attempts: 1,
      dead_letter_reason: 'rejected',
      last_status: 400,
    });
    const [goneDelivery] = await settled(subGone.id);
    expect(goneDelivery).toMatchObject({ status: 'dead_lettered', attempts: 1, last_status: 410 });
    const after = await s.api('GET', `/v1/webhooks/${subGone.id}`);
    expect(after.body.active).toBe(false);
    expect(after.body.disabled_reason).toMatch(/410/);

    // A disabled subscription receives nothing more, until it is reactivated.
    await s.publish(domainEvent('rollout.paused', target));
    await settled(subBad.id);
    expect(gone.received).toHaveLength(1);
    const redo = await s.api('POST', `/v1/webhooks/${subGone.id}/deliveries/${goneDelivery.id}/redeliver`);
    expect(redo.status).toBe(409);
    expect((await s.api('PATCH', `/v1/webhooks/${subGone.id}`, { active: true })).body).toMatchObject({
      active: true,
      disabled_reason: null,
    });
  });

  it('refuses a redirect to a private address and never follows it', async () => {
    const target = uniqueName('wh-redirect');
    const hook = await subscriber(() => ({
      status: 307,
      headers: { location: 'http://169.254.169.254/latest/meta-data/' },
    }));
    const sub = await subscribe(hook.url, target);
    await s.publish(domainEvent('anomaly.detected', target, { metric: 'latency_p99', severity: 'warning' }));
    const [delivery] = await settled(sub.id);
    expect(delivery).toMatchObject({ status: 'dead_lettered', dead_letter_reason: 'rejected', attempts: 1 });
    expect(delivery.attempt_log[0].error).toMatch(/redirect/);
    expect(delivery.attempt_log[0].error).toMatch(/169\.254\.169\.254/);
    expect(hook.received).toHaveLength(1);
  });

  it('follows a redirect to an allowed address with the signed body', async () => {
    const target = uniqueName('wh-moved');
    const final = await subscriber();
    const hook = await subscriber(() => ({ status: 308, headers: { location: `${final.url}/new-home` } }));
    const sub = await subscribe(hook.url, target);
    await s.publish(domainEvent('decision.approved', target));
    const [delivery] = await settled(sub.id);
    expect(delivery.status).toBe('succeeded');
    expect(final.received[0]!.path).toBe('/new-home');
    expect(
      verifySignature(
        final.received[0]!.headers['x-llmopt-signature'] as string,
        final.received[0]!.body,
        sub.secret,
      ),
    ).toBe(true);
  });

  it('signs a retry after a rotation with the new secret, and the old one during the overlap', async () => {
    const target = uniqueName('wh-rotate');
    let rotated = false;
    const hook = await subscriber(() => (rotated ? { status: 200 } : { status: 503 }));
    const sub = await subscribe(hook.url, target);
    await s.publish(domainEvent('rollout.stage_promoted', target));
    await eventually(async () => hook.received.length >= 1);
    const rotation = await s.api('POST', `/v1/webhooks/${sub.id}/rotate-secret`, { overlap_seconds: 3600 });
    expect(rotation.status).toBe(200);
    expect(rotation.body.secret).not.toBe(sub.secret);
    expect(rotation.body.previous_secret_expires_at).not.toBeNull();
    rotated = true;
    const [delivery] = await settled(sub.id);
    expect(delivery.status).toBe('succeeded');

    for (const r of hook.received) expect(r.headers['x-llmopt-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}/);
    expect(
      verifySignature(
        hook.received[0]!.headers['x-llmopt-signature'] as string,
        hook.received[0]!.body,
        sub.secret,
      ),
    ).toBe(true);
    const last = hook.received.at(-1)!;
    expect(
      verifySignature(last.headers['x-llmopt-signature'] as string, last.body, rotation.body.secret),
    ).toBe(true);
    expect(verifySignature(last.headers['x-llmopt-signature'] as string, last.body, sub.secret)).toBe(true);
    expect(delivery.attempt_log.at(-1).signatures).toBe(2);

    // Without an overlap the old secret stops signing at once.
    const hard = await s.api('POST', `/v1/webhooks/${sub.id}/rotate-secret`, { overlap_seconds: 0 });
    await s.publish(domainEvent('rollout.stage_promoted', target));
    await eventually(async () => (hook.received.length > delivery.attempts ? true : undefined));
    const next = hook.received.at(-1)!;
    expect(verifySignature(next.headers['x-llmopt-signature'] as string, next.body, hard.body.secret)).toBe(
      true,
    );
    expect(
      verifySignature(next.headers['x-llmopt-signature'] as string, next.body, rotation.body.secret),
    ).toBe(false);
  });
});

describe('subscriptions API', () => {
  it('refuses invalid and non-public URLs at registration with 422 naming the field', async () => {
    for (const url of [
      'not a url',
      'ftp://example.com/hook',
      'http://user:pw@127.0.0.1/hook',
      'http://169.254.169.254/latest',
      'http://10.1.2.3/x',
      'http://[::ffff:192.168.0.1]/x',
    ]) {
      const r = await s.api('POST', '/v1/webhooks', { url, events: ['*'] });
      expect(r.status, url).toBe(422);
      expect(r.headers.get('content-type')).toContain('application/problem+json');
      expect(r.body.errors.map((e: { path: string }) => e.path)).toContain('url');
    }
  });

  it('names bad fields of a subscription', async () => {
    const r = await s.api('POST', '/v1/webhooks', {
      url: 'http://127.0.0.1:9/x',
      events: ['rollout.exploded'],
      active: 'yes',
    });
    expect(r.status).toBe(422);
    expect(r.body.errors.map((e: { path: string }) => e.path)).toEqual(
      expect.arrayContaining(['events[0]', 'active']),
    );
    expect((await s.api('GET', '/v1/webhooks/wh_000000000000000000000000')).status).toBe(404);
    expect((await s.api('GET', '/v1/webhooks/nope')).status).toBe(400);
    expect(
      (await s.api('POST', '/v1/webhooks/wh_000000000000000000000000/rotate-secret', { overlap_seconds: -1 }))
        .status,
    ).toBe(422);
  });

  it('lists, updates and deletes subscriptions', async () => {
    const hook = await subscriber();
    const sub = await subscribe(hook.url, uniqueName('crud'));
    const patched = await s.api('PATCH', `/v1/webhooks/${sub.id}`, {
      description: 'ops channel relay',
      events: ['rollout.rolled_back'],
    });
    expect(patched.body).toMatchObject({ description: 'ops channel relay', events: ['rollout.rolled_back'] });
    expect((await s.api('PATCH', `/v1/webhooks/${sub.id}`, { url: 'http://192.168.1.1/x' })).status).toBe(
      422,
    );
    const page = await s.api('GET', '/v1/webhooks?limit=200');
    expect(page.body.items.map((x: { id: string }) => x.id)).toContain(sub.id);
    expect((await s.api('DELETE', `/v1/webhooks/${sub.id}`)).status).toBe(204);
    expect((await s.api('GET', `/v1/webhooks/${sub.id}`)).status).toBe(404);
  });

  it('publishes every event payload in the OpenAPI webhooks section', async () => {
    const doc = await s.api('GET', '/openapi.json');
    expect(doc.status).toBe(200);
    const names = Object.keys(doc.body.webhooks ?? {}).map((k) => k.replace(/^\//, ''));
    expect(names).toEqual(
      expect.arrayContaining(['rollout.rolled_back', 'anomaly.detected', 'decision.created', 'cycle.failed']),
    );
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        '/v1/webhooks',
        '/v1/webhooks/{id}/deliveries',
        '/v1/webhooks/{id}/deliveries/{delivery}/redeliver',
      ]),
    );
  });
});
