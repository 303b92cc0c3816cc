/** Analysis worker: analyzers, strategies, coordinator and canary judge on task queue `optimizer-analysis`. */
import { createAnalysisActivities } from '../activities/analysis';
import { createDecisionsRepo } from '../infra/db/repos/decisions';
import { createTargetsRepo } from '../infra/db/repos/targets';
import { runWorkerProcess } from './worker-process';

await runWorkerProcess({
  name: 'analysis-worker',
  taskQueue: (env) => env.TASK_QUEUE_ANALYSIS,
  workflows: false,
  needsDatabase: true,
  activities: ({ db, ctx }) =>
    createAnalysisActivities({
      targets: createTargetsRepo(db),
      decisions: createDecisionsRepo(db),
      logger: ctx.logger,
    }),
});
