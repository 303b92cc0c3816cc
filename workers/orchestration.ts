/** Orchestration worker: workflows and light activities on task queue `optimizer-orchestration`. */
import { runWorkerProcess } from './worker-process';

await runWorkerProcess({
  name: 'orchestration-worker',
  taskQueue: (env) => env.TASK_QUEUE_ORCHESTRATION,
  workflows: true,
  needsDatabase: false,
});
