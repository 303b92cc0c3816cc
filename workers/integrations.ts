/** Integrations worker: webhooks, Slack, GitHub, Jira and Anthropic on task queue `optimizer-integrations`. */
import { createIntegrationActivities, createNotifyStarter, deliveryPolicy } from '../activities/integrations';
import { createPublishActivities } from '../activities/integrations/publish';
import { createDomainEventsRepo } from '../infra/db/repos/domain-events';
import { runWorkerProcess } from './worker-process';

await runWorkerProcess({
  name: 'integrations-worker',
  taskQueue: (env) => env.TASK_QUEUE_INTEGRATIONS,
  // The notification workflows (notifyEvent, redeliverWebhook) run here, apart from the optimization flow.
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
    ...createIntegrationActivities({ db, env: ctx.env, logger: ctx.logger }),
  }),
});
