/**
 * The integrations worker as a real process (`node --import tsx workers/integrations.ts`), SIGKILLed
 * while a subscriber holds a delivery open: after a restart the delivery completes, and the receiver
 * can tell the repeat by its event id.
 */
// The app (and with it @hono/zod-openapi) loads before any other zod schema is built.
import { domainEvent, integrationEnv, startServer, type LocalServer } from './fixtures';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createPublishActivities } from '../../activities/integrations/publish';
import { eventually, testEnv, uniqueName } from '../helpers/env';
import { spawnEntrypoint, type Spawned } from '../helpers/process';
import { startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
let hook: LocalServer;
const children: Spawned[] = [];

beforeAll(async () => {
  // The spawned worker serves the system's integrations queue, under the settings of these tests.
  sys = await startTestSystem({ workers: false, env: integrationEnv() });
});
afterAll(async () => {
  if (process.env.TEST_LOG_LEVEL) for (const c of children) process.stderr.write(c.output());
  for (const c of children)
    if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGTERM');
  await Promise.all(children.map((c) => c.exited));
  await hook?.close();
  await sys?.stop();
});

function startWorker(): Spawned {
  const child = spawnEntrypoint('workers/integrations.ts', {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    TEMPORAL_ADDRESS: testEnv.TEMPORAL_ADDRESS,
    TEMPORAL_NAMESPACE: testEnv.TEMPORAL_NAMESPACE,
    DATABASE_URL: testEnv.DATABASE_URL,
    TASK_QUEUE_INTEGRATIONS: sys.taskQueues.integrations,
    WEBHOOK_ALLOWED_DESTINATIONS: '127.0.0.0/8',
    TEMPORAL_CORE_METRICS: 'false',
    JUDGE_SCHEDULE_ENABLED: 'false',
    HEALTH_PORT: '0',
  });
  children.push(child);
  return child;
}

it('completes a delivery interrupted by SIGKILL of the worker once a worker runs again', async () => {
  let held = 0;
  hook = await startServer(() => {
    // The first request is left hanging: the worker dies while waiting for the answer.
    if (held++ === 0) return new Promise(() => undefined);
    return { status: 200, body: 'ok' };
  });
  const webhooks = sys.container.repos.webhooks;
  const target = uniqueName('kill-target');
  const { subscription } = await webhooks.create({
    url: hook.url,
    description: '',
    events: ['*'],
    targets: [target],
    active: true,
  });
  const publisher = createPublishActivities(sys.container, { policy: { heartbeatTimeoutMs: 2_000 } });

  const first = startWorker();
  const event = domainEvent('rollout.rolled_back', target, { rollout_id: 'r-kill' });
  await publisher.publishDomainEvent(event);
  await eventually(async () => hook.received.length >= 1, {
    what: 'the worker to start the delivery',
    timeoutMs: 90_000,
  });

  first.child.kill('SIGKILL');
  expect((await first.exited).signal).toBe('SIGKILL');
  startWorker();

  const delivery = await eventually(
    async () => {
      const [d] = await webhooks.listDeliveries(subscription.id, { limit: 1 });
      return d?.status === 'succeeded' ? d : undefined;
    },
    { what: 'the delivery to complete after the restart', timeoutMs: 90_000 },
  );
  expect(delivery.attempts).toBeGreaterThanOrEqual(2);
  expect(delivery.attempt_log!.at(-1)).toMatchObject({ status_code: 200 });
  // The receiver saw the event more than once, always under the same event and delivery id: it dedupes.
  expect(hook.received.length).toBeGreaterThanOrEqual(2);
  expect(new Set(hook.received.map((r) => r.headers['x-llmopt-event-id']))).toEqual(new Set([event.id]));
  expect(new Set(hook.received.map((r) => r.headers['x-llmopt-delivery-id']))).toEqual(
    new Set([delivery.id]),
  );
  const result = (await sys.client.workflow.getHandle(`notify-${event.id}`).result()) as {
    deliveries: { status: string }[];
  };
  expect(result.deliveries).toEqual([{ id: delivery.id, status: 'succeeded' }]);
}, 240_000);
