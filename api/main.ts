/** The API process: REST + OpenAPI on PORT (8080), the ingestion front door. */
import { serve } from '@hono/node-server';
import { TASK_QUEUES } from '../domain/names';
import { createPool, ping } from '../infra/db/pool';
import { migrate } from '../infra/db/migrate';
import { createDecisionsRepo } from '../infra/db/repos/decisions';
import { createTargetsRepo } from '../infra/db/repos/targets';
import { runProcess, type ReadinessCheck } from '../infra/process';
import { connectClient } from '../infra/temporal';
import { createApp } from './app';

await runProcess(
  'api',
  async (ctx) => {
    const { env, logger } = ctx;
    const db = createPool(env.DATABASE_URL, env.DATABASE_POOL_MAX);
    await migrate(env.DATABASE_URL, logger);
    const temporal = await connectClient(env.TEMPORAL_ADDRESS, env.TEMPORAL_NAMESPACE);
    const checks: ReadinessCheck[] = [
      { name: 'postgres', check: () => ping(db) },
      {
        name: 'temporal',
        check: async () => {
          await temporal.connection.workflowService.getSystemInfo({});
        },
      },
    ];
    let stopping = false;
    const app = createApp({
      env,
      logger,
      metrics: ctx.metrics,
      db,
      temporal,
      taskQueues: {
        ...TASK_QUEUES,
        orchestration: env.TASK_QUEUE_ORCHESTRATION,
        analysis: env.TASK_QUEUE_ANALYSIS,
        integrations: env.TASK_QUEUE_INTEGRATIONS,
      },
      repos: { targets: createTargetsRepo(db), decisions: createDecisionsRepo(db) },
      checks,
      metricsSources: [],
      isStopping: () => stopping,
    });
    ctx.onReload((next) => Object.assign(env, next));
    const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, port: env.PORT, hostname: env.HOST }, () => resolve(s));
      s.once('error', reject);
    });
    logger.info({ url: `http://${env.HOST}:${env.PORT}` }, 'API listening');
    return {
      async stop() {
        stopping = true;
        // Stop accepting connections; in-flight requests finish, idle keep-alive sockets close.
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
        });
        await temporal.connection.close();
        await db.end();
      },
    };
  },
  { serveHealth: false },
);
