/** Analysis worker: analyzers, strategies, coordinator and canary judge on task queue `optimizer-analysis`. */
import { createAnalysisActivities } from '../activities/analysis';
import { runWorkerProcess } from './worker-process';

await runWorkerProcess({
  name: 'analysis-worker',
  taskQueue: (env) => env.TASK_QUEUE_ANALYSIS,
  workflows: false,
  activities: (c) => createAnalysisActivities(c),
});
