/** Orchestration worker: workflows and light activities on task queue `optimizer-orchestration`. */
import { createOrchestrationActivities } from '../activities/orchestration';
import { createNotifyStarter, deliveryPolicy } from '../activities/integrations';
import { createPublishActivities } from '../activities/integrations/publish';
import { createDecisionsRepo } from '../adapters/db/repos/decisions';
import { createDomainEventsRepo } from '../adapters/db/repos/domain-events';
import { createRolloutsRepo } from '../adapters/db/repos/rollouts';
import { createCachedTargetsRepo, createSharedState } from '../adapters/cache';
import { runWorkerProcess } from './worker-process';

await runWorkerProcess({
  name: 'orchestration-worker',
  taskQueue: (env) => env.TASK_QUEUE_ORCHESTRATION,
  workflows: true,
  needsDatabase: true,
  // Rollout writes (routing configs, rollout state, decision status) and the domain-event outbox.
  activities: ({ db, ctx }) => ({
    ...createOrchestrationActivities({
      // Every routing-config version a rollout writes is announced to the API caches at once (pub/sub).
      targets: createCachedTargetsRepo(db, createSharedState(ctx.env, ctx.logger)).targets,
      decisions: createDecisionsRepo(db),
      rollouts: createRolloutsRepo(db),
      logger: ctx.logger,
    }),
    ...createPublishActivities({
      events: createDomainEventsRepo(db),
      logger: ctx.logger,
      // Starts the notifyEvent workflow on the integrations queue and returns: delivery never delays a rollout.
      deliver: createNotifyStarter({
        taskQueue: ctx.env.TASK_QUEUE_INTEGRATIONS,
        policy: deliveryPolicy(ctx.env),
      }),
    }),
  }),
});
