/** Integrations worker: webhooks, Slack, GitHub, Jira and Anthropic on task queue `optimizer-integrations`. */
import { createIntegrationActivities, createNotifyStarter, deliveryPolicy } from '../activities/integrations';
import { ensureJudgeSchedule } from '../activities/integrations/judge-schedule';
import { startOutboxSweeper } from '../activities/integrations/outbox-sweeper';
import { runWorkerProcess } from './worker-process';

await runWorkerProcess({
  name: 'integrations-worker',
  taskQueue: (env) => env.TASK_QUEUE_INTEGRATIONS,
  // The notification workflows (notifyEvent, redeliverWebhook) and the judge run here, apart from the optimization flow.
  workflows: true,
  workflowsEntry: 'notify.ts',
  // The judge schedule and the outbox sweeper start workflows from outside any activity.
  compose: { temporal: true },
  activities: (c) => createIntegrationActivities(c),
  background: async (c) => {
    const { env, logger, repos, secrets, temporal } = c;
    if (!temporal) throw new Error('the integrations worker is composed with a Temporal client');
    // Secrets written before encryption, or under a retired key, are sealed under the current key.
    const integrations = await repos.integrations.resealSecrets();
    const webhooks = await repos.webhooks.resealSecrets();
    if (integrations.resealed + webhooks.resealed > 0)
      logger.info(
        { rows: integrations.resealed + webhooks.resealed, keyId: secrets.keyId },
        'sealed stored secrets under the current key',
      );
    if (integrations.unreadable.length + webhooks.unreadable.length > 0)
      logger.error(
        { integrations: integrations.unreadable, webhooks: webhooks.unreadable, keyId: secrets.keyId },
        'stored secrets no configured key opens: set SECRETS_PREVIOUS_KEYS to the key that sealed them',
      );

    if (env.JUDGE_SCHEDULE_ENABLED) {
      const scheduleId = await ensureJudgeSchedule(temporal, env);
      logger.info({ scheduleId, everySeconds: env.JUDGE_INTERVAL_S }, 'LLM judge schedule in place');
    }
    const sweeper = startOutboxSweeper({
      events: repos.domainEvents,
      deliver: createNotifyStarter({
        client: temporal,
        taskQueue: c.taskQueues.integrations,
        policy: deliveryPolicy(env),
      }),
      logger,
      intervalMs: env.OUTBOX_SWEEP_INTERVAL_MS,
      graceMs: env.OUTBOX_SWEEP_GRACE_MS,
      maxAgeMs: env.OUTBOX_SWEEP_MAX_AGE_MS,
    });
    // The client closes with the container, after the worker has drained.
    return { stop: () => sweeper.stop() };
  },
});
