/** The API process: REST + OpenAPI on PORT (8080), gRPC on GRPC_PORT, the ingestion front door. */
// First: zod-openapi must extend zod before any schema exists, because zod 4 binds methods per instance
// and schemas built earlier (domain/) would lack `.openapi()`.
import '@hono/zod-openapi';
import cluster from 'node:cluster';
import { compose } from '../app/compose';
import { runProcess, type ProcessContext, type Running } from '../platform/process';
import { createLogger } from '../platform/logger';
import { startTracing, stopTracing } from '../platform/tracing';
import { explicitlySet, loadEnv } from '../platform/env';
import { startIngestFront } from '../pipeline';
import { runApiPrimary, shareMetricsWithPrimary } from './lib/cluster';
import { createApp } from './app';
import { listenApi } from './server';
import { startGrpcServer } from './grpc/server';

/** One API process: env → compose → createApp → listen (REST, then gRPC). */
async function startApi(ctx: ProcessContext): Promise<Running> {
  const { env, logger } = ctx;
  // Before the Temporal client exists: its interceptors depend on it (platform/tracing.ts).
  await startTracing('api', env, logger);
  // A cluster worker's /metrics answers for every worker (api/lib/cluster.ts).
  if (cluster.isWorker) shareMetricsWithPrimary(ctx.metrics.registry);
  const c = await compose(env, {
    logger,
    metrics: ctx.metrics,
    migrate: true,
    temporal: true,
    // Routing configs served from memory, invalidated within milliseconds across replicas; rate limits
    // shared by every replica through the cache's Redis; stored windows cached for metrics queries.
    aggregatesCache: true,
  });
  // Ingest: Kafka (acks=all) when KAFKA_BROKERS is set, else the embedded WAL pipeline in this process.
  const ingestRedis = c.redisFor('ingest');
  const ingest = await startIngestFront({
    env,
    db: c.db,
    logger,
    ...(ingestRedis ? { redis: ingestRedis } : {}),
    ...(c.bus ? { bus: c.bus } : {}),
    metrics: ctx.metrics,
  });
  const redisCheck = c.redisCheck();
  let stopping = false;
  const app = createApp({
    ...c,
    checks: [...c.checks, ...(redisCheck ? [redisCheck] : []), ...ingest.checks],
    metricsSources: [],
    isStopping: () => stopping,
    ingest: ingest.front,
    dataPlane: { onPricesChanged: ingest.onPricesChanged },
  });
  ctx.onReload((next) => Object.assign(env, next));
  const server = await listenApi(app, env.PORT, env.HOST);
  logger.info({ url: `http://${env.HOST}:${env.PORT}` }, 'API listening');
  // gRPC on its own port with the same identities, roles and limits (api/grpc/server.ts).
  // A GRPC_PORT set on purpose must bind; the default 9090 taken by another local API process (tests,
  // benches, a second replica on one machine) leaves this one serving REST only, with a warning.
  const grpcServer = await startGrpcServer(app.deps, app.security, {
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
      await c.close();
      await stopTracing();
    },
  };
}

const env = loadEnv();
if (cluster.isPrimary && env.API_WORKERS > 1) runApiPrimary(env, createLogger('api', env.LOG_LEVEL));
else await runProcess('api', startApi, { serveHealth: false });
