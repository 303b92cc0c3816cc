/** Integrations worker: webhooks, Slack, GitHub, Jira and Anthropic on task queue `optimizer-integrations`. */
import { createIntegrationActivities, createNotifyStarter, deliveryPolicy } from '../activities/integrations';
import { ensureJudgeSchedule } from '../activities/integrations/judge-schedule';
import { startOutboxSweeper } from '../activities/integrations/outbox-sweeper';
import { createPublishActivities } from '../activities/integrations/publish';
import { createDomainEventsRepo } from '../adapters/db/repos/domain-events';
import { createIntegrationsRepo } from '../adapters/db/repos/integrations';
import { createWebhooksRepo } from '../adapters/db/repos/webhooks';
import { secretBoxFromEnv } from '../platform/secrets';
import { connectClient } from '../platform/temporal';
import { runWorkerProcess } from './worker-process';

await runWorkerProcess({
  name: 'integrations-worker',
  taskQueue: (env) => env.TASK_QUEUE_INTEGRATIONS,
  // The notification workflows (notifyEvent, redeliverWebhook) and the judge run here, apart from the optimization flow.
  workflows: true,
  workflowsEntry: 'notify.ts',
  needsDatabase: true,
  activities: ({ db, ctx }) => ({
    ...createPublishActivities({
      events: createDomainEventsRepo(db),
      logger: ctx.logger,
      deliver: createNotifyStarter({
        taskQueue: ctx.env.TASK_QUEUE_INTEGRATIONS,
        policy: deliveryPolicy(ctx.env),
      }),
    }),
    ...createIntegrationActivities({ db, env: ctx.env, logger: ctx.logger, registry: ctx.metrics.registry }),
  }),
  background: async ({ db, ctx }) => {
    const { env, logger } = ctx;
    // Secrets written before encryption, or under a retired key, are sealed under the current key.
    const box = secretBoxFromEnv(env);
    const integrations = await createIntegrationsRepo(db, box).resealSecrets();
    const webhooks = await createWebhooksRepo(db, box).resealSecrets();
    if (integrations.resealed + webhooks.resealed > 0)
      logger.info(
        { rows: integrations.resealed + webhooks.resealed, keyId: box.keyId },
        'sealed stored secrets under the current key',
      );
    if (integrations.unreadable.length + webhooks.unreadable.length > 0)
      logger.error(
        { integrations: integrations.unreadable, webhooks: webhooks.unreadable, keyId: box.keyId },
        'stored secrets no configured key opens: set SECRETS_PREVIOUS_KEYS to the key that sealed them',
      );

    const client = await connectClient(env.TEMPORAL_ADDRESS, env.TEMPORAL_NAMESPACE);
    if (env.JUDGE_SCHEDULE_ENABLED) {
      const scheduleId = await ensureJudgeSchedule(client, env);
      logger.info({ scheduleId, everySeconds: env.JUDGE_INTERVAL_S }, 'LLM judge schedule in place');
    }
    const sweeper = startOutboxSweeper({
      events: createDomainEventsRepo(db),
      deliver: createNotifyStarter({
        client,
        taskQueue: env.TASK_QUEUE_INTEGRATIONS,
        policy: deliveryPolicy(env),
      }),
      logger,
      intervalMs: env.OUTBOX_SWEEP_INTERVAL_MS,
      graceMs: env.OUTBOX_SWEEP_GRACE_MS,
      maxAgeMs: env.OUTBOX_SWEEP_MAX_AGE_MS,
    });
    return {
      async stop() {
        await sweeper.stop();
        await client.connection.close();
      },
    };
  },
});
