/** Integrations worker: webhooks, Slack, GitHub, Jira and Anthropic on task queue `optimizer-integrations`. */
import { runWorkerProcess } from './worker-process';

await runWorkerProcess({
  name: 'integrations-worker',
  taskQueue: (env) => env.TASK_QUEUE_INTEGRATIONS,
  workflows: false,
  needsDatabase: true,
  activities: () => ({}),
});
