/**
 * The life of every process (api, stream, workers): JSON logs, a dedicated metrics registry, a health
 * server (/healthz alive, /readyz dependencies reachable, /metrics), graceful shutdown on SIGTERM/SIGINT
 * within SHUTDOWN_GRACE_MS, and SIGHUP reload of what can change without a restart.
 */
import { createServer, type Server } from 'node:http';
import { loadEnv, reloadEnv, RELOADABLE_KEYS, type Env } from './env';
import { createLogger, type Logger } from './logger';
import { createMetrics, type Metrics } from './metrics';

/** A dependency the process needs; /readyz is 503 with the reason while any check fails. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

export interface ProcessContext {
  env: Env;
  logger: Logger;
  metrics: Metrics;
  /** Add a readiness check (e.g. database, Temporal, Kafka). */
  addCheck(check: ReadinessCheck): void;
  /** Extra text appended to /metrics (Temporal Core's Prometheus output). */
  addMetricsSource(source: () => Promise<string>): void;
  /** Called on SIGHUP with the reloaded env, after the log level is applied. */
  onReload(fn: (env: Env) => void): void;
}

export interface Running {
  /** Stop taking work; finish or hand back what is in flight. */
  stop(): Promise<void>;
  /** The health server's port when the process serves its own (workers); the API serves through Hono. */
  healthPort?: number;
}

export async function runReadiness(checks: ReadinessCheck[], metrics: Metrics, timeoutMs = 2_000) {
  const results = await Promise.all(
    checks.map(async (c) => {
      try {
        await Promise.race([
          c.check(),
          new Promise((_, reject) =>
            setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs).unref(),
          ),
        ]);
        metrics.ready.set({ dependency: c.name }, 1);
        return { name: c.name, ok: true as const };
      } catch (err) {
        metrics.ready.set({ dependency: c.name }, 0);
        return { name: c.name, ok: false as const, reason: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
  return { ready: results.every((r) => r.ok), checks: results };
}

export async function collectMetrics(metrics: Metrics, sources: (() => Promise<string>)[]): Promise<string> {
  const parts = [await metrics.registry.metrics()];
  for (const s of sources) parts.push(await s().catch(() => ''));
  return parts.join('\n');
}

/** Serves /healthz, /readyz and /metrics for a process that has no HTTP API of its own. */
export function startHealthServer(opts: {
  host: string;
  port: number;
  checks: ReadinessCheck[];
  metrics: Metrics;
  metricsSources: (() => Promise<string>)[];
  isStopping: () => boolean;
}): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (path === '/healthz') return json(200, { status: 'alive' });
    if (path === '/readyz') {
      if (opts.isStopping()) return json(503, { status: 'stopping', checks: [] });
      void runReadiness(opts.checks, opts.metrics).then((r) =>
        json(r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not_ready', checks: r.checks }),
      );
      return;
    }
    if (path === '/metrics') {
      void collectMetrics(opts.metrics, opts.metricsSources).then((text) => {
        res.writeHead(200, { 'content-type': opts.metrics.registry.contentType });
        res.end(text);
      });
      return;
    }
    json(404, { type: 'about:blank', title: 'Not Found', status: 404 });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve(server));
  });
}

/**
 * Runs a process: builds its context, calls `start`, and owns the signals. The process exits 0 after a
 * graceful stop, 1 when stopping exceeded the grace period or start failed.
 */
export async function runProcess(
  name: string,
  start: (ctx: ProcessContext) => Promise<Running>,
  opts: { serveHealth: boolean } = { serveHealth: true },
): Promise<void> {
  const env = loadEnv();
  const logger = createLogger(name, env.LOG_LEVEL);
  const metrics = createMetrics(name);
  const checks: ReadinessCheck[] = [];
  const metricsSources: (() => Promise<string>)[] = [];
  const reloaders: ((env: Env) => void)[] = [];
  let stopping = false;
  const ctx: ProcessContext = {
    env,
    logger,
    metrics,
    addCheck: (c) => checks.push(c),
    addMetricsSource: (s) => metricsSources.push(s),
    onReload: (fn) => reloaders.push(fn),
  };

  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'));
  process.on('uncaughtException', (err) => logger.error({ err }, 'uncaught exception'));

  let running: Running;
  let health: Server | undefined;
  try {
    running = await start(ctx);
    if (opts.serveHealth) {
      health = await startHealthServer({
        host: '127.0.0.1',
        port: env.HEALTH_PORT,
        checks,
        metrics,
        metricsSources,
        isStopping: () => stopping,
      });
      const address = health.address();
      running.healthPort = typeof address === 'object' && address ? address.port : env.HEALTH_PORT;
    }
  } catch (err) {
    logger.fatal({ err }, `${name} failed to start`);
    process.exit(1);
  }
  logger.info({ healthPort: running.healthPort }, `${name} started`);

  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const startedAt = Date.now();
    logger.info({ signal }, `${name} stopping`);
    const deadline = setTimeout(() => {
      logger.error({ graceMs: env.SHUTDOWN_GRACE_MS }, `${name} did not stop in time; exiting`);
      process.exit(1);
    }, env.SHUTDOWN_GRACE_MS);
    deadline.unref();
    running
      .stop()
      .then(() => new Promise<void>((resolve) => (health ? health.close(() => resolve()) : resolve())))
      .then(() => {
        logger.info({ ms: Date.now() - startedAt }, `${name} stopped`);
        logger.flush();
        process.exit(0);
      })
      .catch((err: unknown) => {
        logger.error({ err }, `${name} failed while stopping`);
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGHUP', () => {
    try {
      const next = reloadEnv();
      const changed: Record<string, { from: unknown; to: unknown }> = {};
      for (const key of RELOADABLE_KEYS) {
        if (next[key] !== ctx.env[key]) changed[key] = { from: ctx.env[key], to: next[key] };
      }
      ctx.env = { ...ctx.env, ...Object.fromEntries(RELOADABLE_KEYS.map((k) => [k, next[k]])) };
      logger.level = ctx.env.LOG_LEVEL;
      for (const fn of reloaders) fn(ctx.env);
      logger.warn({ changed }, `${name} reloaded configuration`);
    } catch (err) {
      logger.error(
        { err: err instanceof Error ? err.message : String(err) },
        'SIGHUP reload refused; keeping the current configuration',
      );
    }
  });
}
