/**
 * API_WORKERS > 1: the API as a node:cluster of full API processes, one per core, sharing the REST and
 * gRPC listening sockets (the primary accepts connections and hands them out in turn). Each worker is the
 * API process of api/main.ts with its own ingest shard, `${INGEST_SHARD_NAME}-${index}`, so a restarted
 * worker reclaims its own write-ahead log. The primary serves nothing itself: it restarts a worker that
 * dies (after a pause that grows while it keeps dying young), forwards SIGHUP, stops the workers
 * gracefully on SIGTERM/SIGINT, and answers the workers' /metrics with the metrics of all of them
 * (prom-client's AggregatorRegistry), so a scrape through the shared port sees the whole process.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Env } from '../../platform/env';
import type { Logger } from '../../platform/logger';

const METRICS_REQUEST = 'llmopt:api-metrics-request';
const METRICS_ANSWER = 'llmopt:api-metrics-answer';
const METRICS_TIMEOUT_MS = 5_000;
/** A worker that lived this long before dying is restarted at once; younger deaths back off. */
const HEALTHY_LIFETIME_MS = 60_000;

interface MetricsAnswer {
  type: typeof METRICS_ANSWER;
  id: number;
  text?: string;
  error?: string;
}

/** The ingest shard of worker `index`: stable across restarts of that worker. */
export function workerShardName(base: string, index: number): string {
  return `${base}-${index}`;
}

/** Runs the primary of `env.API_WORKERS` API workers until SIGTERM/SIGINT; exits the process then. */
export function runApiPrimary(env: Env, logger: Logger): void {
  const count = env.API_WORKERS;
  const workers = new Map<number, Worker>();
  const failures = new Array<number>(count).fill(0);
  const aggregator = new AggregatorRegistry();
  let stopping = false;
  let failed = false;

  function fork(index: number): void {
    const startedAt = Date.now();
    const worker = cluster.fork({ INGEST_SHARD_NAME: workerShardName(env.INGEST_SHARD_NAME, index) });
    workers.set(index, worker);
    worker.on('message', (m: { type?: unknown; id?: unknown }) => {
      if (m?.type !== METRICS_REQUEST || typeof m.id !== 'number') return;
      const id = m.id;
      aggregator.clusterMetrics().then(
        (text) => worker.isConnected() && worker.send({ type: METRICS_ANSWER, id, text }),
        (err: unknown) =>
          worker.isConnected() && worker.send({ type: METRICS_ANSWER, id, error: String(err) }),
      );
    });
    worker.once('exit', (code, signal) => {
      workers.delete(index);
      if (stopping) {
        if (code !== 0) failed = true;
        if (workers.size === 0) finish();
        return;
      }
      const streak = Date.now() - startedAt >= HEALTHY_LIFETIME_MS ? 0 : failures[index]! + 1;
      failures[index] = streak;
      const delay = streak === 0 ? 0 : Math.min(30_000, 500 * 2 ** (streak - 1));
      logger.error({ worker: index, code, signal, restartInMs: delay }, 'API worker exited; restarting it');
      setTimeout(() => {
        if (!stopping) fork(index);
      }, delay);
    });
  }

  function finish(): never {
    logger.info({ failed }, 'API workers stopped');
    logger.flush();
    process.exit(failed ? 1 : 0);
  }

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, workers: workers.size }, 'API stopping its workers');
    if (workers.size === 0) finish();
    // Each worker stops gracefully within SHUTDOWN_GRACE_MS (platform/process.ts); past that, and a margin,
    // whatever is left is killed.
    setTimeout(() => {
      logger.error({ left: workers.size }, 'API workers did not stop in time; killing them');
      failed = true;
      for (const w of workers.values()) w.process.kill('SIGKILL');
    }, env.SHUTDOWN_GRACE_MS + 2_000).unref();
    for (const w of workers.values()) w.process.kill('SIGTERM');
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    for (const w of workers.values()) w.process.kill('SIGHUP');
  });

  logger.info({ workers: count }, 'API starting its workers');
  for (let i = 0; i < count; i++) fork(i);
}

/**
 * In a worker: lets the primary read this worker's registry, and makes `registry.metrics()` -- what
 * /metrics answers -- the metrics of every worker, aggregated by the primary.
 */
export function shareMetricsWithPrimary(registry: Registry): void {
  // Constructing one installs prom-client's worker-side listener that answers the primary.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  const pending = new Map<number, { resolve(text: string): void; reject(err: Error): void }>();
  let nextId = 0;
  process.on('message', (m: Partial<MetricsAnswer>) => {
    if (m?.type !== METRICS_ANSWER || typeof m.id !== 'number') return;
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (m.text !== undefined) p?.resolve(m.text);
    else p?.reject(new Error(`cluster metrics: ${m.error ?? 'no answer'}`));
  });
  registry.metrics = () =>
    new Promise<string>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error('cluster metrics: the primary did not answer in time'));
      }, METRICS_TIMEOUT_MS);
      pending.set(id, {
        resolve: (text) => (clearTimeout(timer), resolve(text)),
        reject: (err) => (clearTimeout(timer), reject(err)),
      });
      process.send!({ type: METRICS_REQUEST, id });
    });
}
