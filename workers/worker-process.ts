/**
 * Shared body of the three worker entrypoints: one process, one task queue, its own health server,
 * Temporal Core metrics appended to /metrics, and a graceful drain on SIGTERM (Worker.shutdown lets
 * in-flight activities finish within the grace period and hands workflow tasks back to the server).
 */
import { Worker, type NativeConnection } from '@temporalio/worker';
import type { Env } from '../platform/env';
import { freePort } from '../platform/net';
import { runProcess } from '../platform/process';
import { connectWorker, installRuntime, workflowBundlePath } from '../platform/temporal';
import { startTracing, stopTracing, temporalWorkerTracing } from '../platform/tracing';
import { compose, type ComposeOptions, type Container } from '../app/compose';
import { outcomeMetricsInterceptor } from '../activities/outcome-metrics';

export interface WorkerSpec {
  name: string;
  taskQueue: (env: Env) => string;
  /** Registers the workflow bundle (orchestration only). */
  workflows: boolean;
  /** The workflows entry file under workflows/ to bundle; index.ts (every workflow) when absent. */
  workflowsEntry?: string;
  /** What the process composes beyond the pool and the repositories (app/compose.ts). */
  compose?: Pick<ComposeOptions, 'temporal' | 'cache'>;
  activities?: (c: Container) => Promise<object> | object;
  /** Background work of the process started once the worker polls (e.g. sweepers); stopped first on shutdown. */
  background?: (c: Container) => Promise<{ stop(): Promise<void> }>;
}

export function runWorkerProcess(spec: WorkerSpec): Promise<void> {
  return runProcess(spec.name, async (ctx) => {
    const { env, logger } = ctx;
    // Before the worker and any client exist: their interceptors and the workflow bundle depend on it.
    await startTracing(spec.name, env, logger);
    let metricsAddress: string | undefined;
    if (env.TEMPORAL_CORE_METRICS) {
      metricsAddress = `127.0.0.1:${await freePort()}`;
      ctx.addMetricsSource(async () => {
        const res = await fetch(`http://${metricsAddress}/metrics`);
        return res.ok ? res.text() : '';
      });
    }
    installRuntime(logger, metricsAddress);

    // The schema check and the Temporal connection are independent round trips: made at once.
    const connecting = connectWorker(env.TEMPORAL_ADDRESS);
    connecting.catch(() => undefined); // a failure surfaces where it is awaited below, not as unhandled
    const c = await compose(env, { ...spec.compose, logger, metrics: ctx.metrics, migrate: true }).catch(
      async (err: unknown) => {
        await connecting.then((conn) => conn.close()).catch(() => undefined);
        throw err;
      },
    );
    // The worker's own connection below is the Temporal check that matters; a client's would repeat it.
    for (const check of c.checks) if (check.name !== 'temporal') ctx.addCheck(check);

    const connection: NativeConnection = await connecting;
    ctx.addCheck({
      name: 'temporal',
      check: async () => {
        await connection.workflowService.getSystemInfo({});
      },
    });

    const tracing = temporalWorkerTracing();
    const worker = await Worker.create({
      connection,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: spec.taskQueue(env),
      ...(spec.workflows
        ? { workflowBundle: { codePath: await workflowBundlePath(logger, spec.workflowsEntry) } }
        : {}),
      ...(spec.activities ? { activities: await spec.activities(c) } : {}),
      maxConcurrentActivityTaskExecutions: env.WORKER_MAX_CONCURRENT_ACTIVITIES,
      maxConcurrentWorkflowTaskExecutions: env.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
      shutdownGraceTime: Math.max(1000, env.SHUTDOWN_GRACE_MS - 2000),
      ...tracing,
      // The flow's outcomes are counted where activities record them (activities/outcome-metrics.ts).
      interceptors: {
        ...tracing.interceptors,
        activity: [
          outcomeMetricsInterceptor(ctx.metrics.registry),
          ...(tracing.interceptors?.activity ?? []),
        ],
      },
    });
    ctx.addCheck({
      name: 'worker',
      check: async () => {
        if (worker.getState() !== 'RUNNING') throw new Error(`worker is ${worker.getState()}`);
      },
    });
    const run = worker.run();
    run.catch((err: unknown) => logger.error({ err }, 'worker stopped with an error'));
    logger.info({ taskQueue: spec.taskQueue(env) }, 'polling task queue');
    const background = await spec.background?.(c);

    return {
      async stop() {
        await background?.stop();
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await run.catch(() => undefined);
        await connection.close();
        await c.close();
        await stopTracing();
      },
    };
  });
}
