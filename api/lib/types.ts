import type { Client } from '@temporalio/client';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { TaskQueues } from '../../domain/names';
import type { Env } from '../../infra/env';
import type { Logger } from '../../infra/logger';
import type { Metrics } from '../../infra/metrics';
import type { ReadinessCheck } from '../../infra/process';
import type { Db } from '../../infra/db/pool';
import type { TargetsRepo } from '../../infra/db/repos/targets';
import type { DecisionsRepo } from '../../infra/db/repos/decisions';

/** Everything the API needs, passed in so tests build the app over real local services. */
export interface ApiDeps {
  env: Env;
  logger: Logger;
  metrics: Metrics;
  db: Db;
  temporal: Client;
  taskQueues: TaskQueues;
  repos: { targets: TargetsRepo; decisions: DecisionsRepo };
  checks: ReadinessCheck[];
  metricsSources: (() => Promise<string>)[];
  isStopping?: () => boolean;
}

export interface AppBindings {
  Variables: { requestId: string; logger: Logger };
}

export type AppRouter = OpenAPIHono<AppBindings>;
