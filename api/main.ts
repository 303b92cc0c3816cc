/** The API process: REST + OpenAPI on PORT (8080), the ingestion front door. */
// First: zod-openapi must extend zod before any schema exists, because zod 4 binds methods per instance
// and schemas built earlier (domain/) would lack `.openapi()`.
import '@hono/zod-openapi';
import { serve } from '@hono/node-server';
import { TASK_QUEUES } from '../domain/names';
import { createPool, ping } from '../infra/db/pool';
import { migrate } from '../infra/db/migrate';
import { createDecisionsRepo } from '../infra/db/repos/decisions';
import { createAggregatesReader, createCachedTargetsRepo, createSharedState } from '../infra/cache';
import { createAggregatesRepo } from '../infra/db/repos/aggregates';
import { runProcess, type ReadinessCheck } from '../infra/process';
import { connectClient } from '../infra/temporal';
import { startIngestFront } from '../infra/ingest';
import { createApp } from './app';
import { startGrpcServer } from './grpc/server';
import { explicitlySet } from '../infra/env';
import type { ApiDeps } from './lib/types';
import { securityOf } from './middleware/security';

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
    const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, port: env.PORT, hostname: env.HOST }, () => resolve(s));
      s.once('error', reject);
    });
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
          (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
        });
        await grpcServer?.stop();
        await ingest.stop();
        await temporal.connection.close();
        routingConfigs.close();
        await shared.close();
        await db.end();
      },
    };
  },
  { serveHealth: false },
);
