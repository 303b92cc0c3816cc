/** Orchestration worker: workflows and light activities on task queue `optimizer-orchestration`. */
import { createOrchestrationActivities } from '../activities/orchestration';
import { runWorkerProcess } from './worker-process';

await runWorkerProcess({
  name: 'orchestration-worker',
  taskQueue: (env) => env.TASK_QUEUE_ORCHESTRATION,
  workflows: true,
  // Every routing-config version a rollout writes is announced to the API caches at once (the bus).
  compose: { cache: true },
  activities: (c) => createOrchestrationActivities(c),
});
