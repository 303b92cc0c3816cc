/**
 * Notification benchmark: the integrations worker runs as its own process (`node --import tsx
 * workers/integrations.ts`) against the running Temporal server and PostgreSQL; a fast subscriber on
 * loopback answers 204. Figures: the time from publishing a `rollout.rolled_back` event (outbox write
 * plus workflow start, as a rollback does) to its signed webhook being received, and deliveries per
 * second when many events are published at once.
 *
 *   npx tsx bench/notify.ts [--json]        (npm run bench -- notify)
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createPublishActivities } from '../activities/integrations/publish';
import { compose } from '../app/compose';
import type { DomainEvent } from '../domain/domain-events';
import { loadEnv } from '../platform/env';
import { createLogger } from '../platform/logger';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LATENCY_EVENTS = 100;
const THROUGHPUT_EVENTS = 400;
const IN_FLIGHT = 20;

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
const round = (v: number) => Math.round(v * 10) / 10;

export async function runNotifyBench(): Promise<Record<string, number | string>> {
  const env = loadEnv();
  const run = `${Date.now().toString(36)}`;
  const queue = `optimizer-integrations-bench-${run}`;
  // Published as a workflow's publish activity does, from a container whose integrations queue is the bench's.
  const c = await compose(env, {
    logger: createLogger('bench', 'silent'),
    migrate: true,
    poolMax: 10,
    temporal: true,
    taskQueues: {
      orchestration: env.TASK_QUEUE_ORCHESTRATION,
      analysis: env.TASK_QUEUE_ANALYSIS,
      integrations: queue,
    },
  });
  const webhooks = c.repos.webhooks;

  const waiting = new Map<string, (at: number) => void>();
  let received = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received += 1;
      const id = req.headers['x-llmopt-event-id'] as string;
      waiting.get(id)?.(performance.now());
      waiting.delete(id);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;

  const worker = spawn(process.execPath, ['--import', 'tsx', 'workers/integrations.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      TASK_QUEUE_INTEGRATIONS: queue,
      WEBHOOK_ALLOWED_DESTINATIONS: '127.0.0.0/8',
      LOG_LEVEL: 'warn',
      TEMPORAL_CORE_METRICS: 'false',
      JUDGE_SCHEDULE_ENABLED: 'false',
      HEALTH_PORT: '0',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });

  const subs: string[] = [];
  try {
    const latencyTarget = `bench-rollback-${run}`;
    const bulkTarget = `bench-bulk-${run}`;
    for (const [target, events] of [
      [latencyTarget, ['rollout.rolled_back']],
      [bulkTarget, ['*']],
    ] as const) {
      subs.push(
        (
          await webhooks.create({
            url,
            description: 'bench',
            events: [...events],
            targets: [target],
            active: true,
          })
        ).subscription.id,
      );
    }
    const publisher = createPublishActivities(c);

    const event = (type: DomainEvent['type'], target: string, i: number): DomainEvent => ({
      id: `bench-${run}-${target}-${i}`,
      type,
      version: 1,
      occurred_at: new Date().toISOString(),
      target,
      segment: 'default',
      summary: `bench ${type} ${i}`,
      data: { rollout_id: `rollout-${target}-${i}`, reason: 'bench' },
    });
    const publishAndWait = async (e: DomainEvent): Promise<number> => {
      const arrived = new Promise<number>((resolve) => waiting.set(e.id, resolve));
      const started = performance.now();
      await publisher.publishDomainEvent(e);
      return (await arrived) - started;
    };

    // Warm-up: the worker process is up and its workflow cache is hot once one event went through.
    process.stderr.write('notify bench: waiting for the integrations worker\n');
    await publishAndWait(event('rollout.rolled_back', latencyTarget, -1));
    process.stderr.write(
      `notify bench: measuring ${LATENCY_EVENTS} rollbacks one by one, then ${THROUGHPUT_EVENTS} events ${IN_FLIGHT} at a time\n`,
    );

    const latencies: number[] = [];
    for (let i = 0; i < LATENCY_EVENTS; i++)
      latencies.push(await publishAndWait(event('rollout.rolled_back', latencyTarget, i)));
    latencies.sort((a, b) => a - b);

    const before = received;
    const bulkStarted = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < THROUGHPUT_EVENTS) await publishAndWait(event('decision.created', bulkTarget, next++));
      }),
    );
    const bulkSeconds = (performance.now() - bulkStarted) / 1000;

    return {
      rollback_to_webhook_p50_ms: round(pct(latencies, 50)),
      rollback_to_webhook_p95_ms: round(pct(latencies, 95)),
      rollback_to_webhook_p99_ms: round(pct(latencies, 99)),
      rollback_to_webhook_max_ms: round(latencies.at(-1)!),
      rollback_to_webhook_target_p99_ms: 1000,
      rollback_events: LATENCY_EVENTS,
      deliveries_per_s: round((received - before) / bulkSeconds),
      bulk_events: THROUGHPUT_EVENTS,
      bulk_in_flight: IN_FLIGHT,
      worker: 'separate process, default WORKER_MAX_CONCURRENT_* settings',
    };
  } finally {
    worker.kill('SIGTERM');
    await new Promise((r) => (worker.exitCode !== null ? r(null) : worker.once('exit', r)));
    for (const id of subs) await webhooks.remove(id);
    server.close();
    await c.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const figures = await runNotifyBench();
  if (process.argv.includes('--json')) console.log(JSON.stringify(figures));
  else console.table(figures);
}
