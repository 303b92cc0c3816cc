/** Analysis worker: analyzers, strategies, coordinator and canary judge on task queue `optimizer-analysis`. */
import { createAnalysisActivities } from '../activities/analysis';
import { createAggregatesRepo } from '../pipeline/adapters/store';
import { createAnalysisReportsRepo } from '../adapters/db/repos/analysis-reports';
import { createRolloutsRepo } from '../adapters/db/repos/rollouts';
import { createDecisionsRepo } from '../adapters/db/repos/decisions';
import { createTargetsRepo } from '../adapters/db/repos/targets';
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
      // The canary judge reads stage windows from the stored aggregates.
      aggregates: createAggregatesRepo(db),
      reports: createAnalysisReportsRepo(db),
      rollouts: createRolloutsRepo(db),
      lookbackMinutes: ctx.env.ANALYSIS_LOOKBACK_MINUTES,
    }),
});
