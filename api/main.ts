/** The API process: REST + OpenAPI on PORT (8080), the ingestion front door. */
// First: zod-openapi must extend zod before any schema exists, because zod 4 binds methods per instance
// and schemas built earlier (domain/) would lack `.openapi()`.
import '@hono/zod-openapi';
import cluster from 'node:cluster';
import { Connection } from '@temporalio/client';
import { TASK_QUEUES } from '../domain/names';
import { createPool, ping } from '../adapters/db/pool';
import { migrate } from '../adapters/db/migrate';
import { createDecisionsRepo } from '../adapters/db/repos/decisions';
import { createCachedTargetsRepo, createSharedState } from '../adapters/cache';
import { createAggregatesReader } from '../pipeline/adapters/aggregates-cache';
import { createAggregatesRepo } from '../pipeline/adapters/store';
import { runProcess, type ProcessContext, type ReadinessCheck, type Running } from '../platform/process';
import { createLogger } from '../platform/logger';
import { runApiPrimary, shareMetricsWithPrimary } from './lib/cluster';
import { connectClient } from '../platform/temporal';
import { startIngestFront } from '../pipeline';
import { createApp } from './app';
import { listenApi } from './server';
import { startGrpcServer } from './grpc/server';
import { explicitlySet, loadEnv } from '../platform/env';
import type { ApiDeps } from './lib/types';
import { securityOf } from './middleware/security';

/** One API process: REST, gRPC and the ingest front door, over its own pools and caches. */
async function startApi(ctx: ProcessContext): Promise<Running> {
  const { env, logger } = ctx;
  // A cluster worker's /metrics answers for every worker (api/lib/cluster.ts).
  if (cluster.isWorker) shareMetricsWithPrimary(ctx.metrics.registry);
  const db = createPool(env.DATABASE_URL, env.DATABASE_POOL_MAX);
  await migrate(env.DATABASE_URL, logger);
  const temporal = await connectClient(env.TEMPORAL_ADDRESS, env.TEMPORAL_NAMESPACE);
  // Connecting ran the client's call-context AsyncLocalStorage once, which on Node 20 leaves an async
  // hook on every promise of every request for the life of the process (~10 % of a cached read's CPU).
  // Outside a withDeadline/withMetadata scope its store is empty anyway; such a call enables it again.
  if (temporal.connection instanceof Connection) temporal.connection.callContextStorage.disable();
  const checks: ReadinessCheck[] = [
    { name: 'postgres', check: () => ping(db) },
    {
      name: 'temporal',
      check: async () => {
        await temporal.connection.workflowService.getSystemInfo({});
      },
    },
  ];
  const shared = createSharedState(env, logger);
  if (shared.redis) checks.push({ name: 'redis', check: () => shared.ping() });
  const { targets, routingConfigs } = createCachedTargetsRepo(db, shared, {
    registry: ctx.metrics.registry,
    logger,
  });
  // Ingest: Kafka (acks=all) when KAFKA_BROKERS is set, else the embedded WAL pipeline in this process.
  const ingest = await startIngestFront({
    env,
    db,
    logger,
    ...(shared.redis ? { redis: shared.redis } : {}),
    bus: shared.bus,
    metrics: ctx.metrics,
  });
  checks.push(...ingest.checks);
  // Metrics queries: open windows hot in Redis, stored windows through the three-tier cache.
  const aggregates = createAggregatesReader({
    repo: createAggregatesRepo(db),
    bus: shared.bus,
    ...(shared.redis ? { redis: shared.redis } : {}),
    registry: ctx.metrics.registry,
    logger,
  });
  let stopping = false;
  const apiDeps: ApiDeps = {
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
    repos: { targets, decisions: createDecisionsRepo(db) },
    caches: { routingConfigs, aggregates },
    // API-key revocations and deleted configs reach every replica through the invalidation bus.
    bus: shared.bus,
    // Rate limits are shared by every replica through the same Redis as the cache.
    ...(shared.redis ? { redis: shared.redis } : {}),
    checks,
    metricsSources: [],
    isStopping: () => stopping,
    ingest: ingest.front,
    dataPlane: { onPricesChanged: ingest.onPricesChanged },
  };
  const app = createApp(apiDeps);
  ctx.onReload((next) => Object.assign(env, next));
  const server = await listenApi(app, apiDeps, env.PORT, env.HOST);
  logger.info({ url: `http://${env.HOST}:${env.PORT}` }, 'API listening');
  // gRPC on its own port with the same identities, roles and limits (api/grpc/server.ts).
  // A GRPC_PORT set on purpose must bind; the default 9090 taken by another local API process (tests,
  // benches, a second replica on one machine) leaves this one serving REST only, with a warning.
  const grpcServer = await startGrpcServer(apiDeps, securityOf(app), {
    host: env.HOST,
    port: env.GRPC_PORT,
  }).catch((err: unknown) => {
    if (explicitlySet('GRPC_PORT')) throw err;
    logger.warn(
      { port: env.GRPC_PORT, err: String(err) },
      'gRPC port taken; set GRPC_PORT to serve gRPC from this process',
    );
    return undefined;
  });
  if (grpcServer) logger.info({ address: `${env.HOST}:${grpcServer.port}` }, 'gRPC listening');
  return {
    async stop() {
      stopping = true;
      // Stop accepting connections; in-flight requests finish, idle keep-alive sockets close.
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await grpcServer?.stop();
      await ingest.stop();
      await temporal.connection.close();
      routingConfigs.close();
      await shared.close();
      await db.end();
    },
  };
}

const env = loadEnv();
if (cluster.isPrimary && env.API_WORKERS > 1) runApiPrimary(env, createLogger('api', env.LOG_LEVEL));
else await runProcess('api', startApi, { serveHealth: false });
