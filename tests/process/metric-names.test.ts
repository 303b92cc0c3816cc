/**
 * Every metric a Grafana dashboard panel or a Prometheus alert rule names (infra/deploy/grafana,
 * infra/deploy/prometheus) is exposed by a real process: the API, the three Temporal workers (with
 * Temporal Core's own SDK metrics on, as in production) and the stream process consuming Kafka, started
 * as processes over the real services, given a little traffic (events ingested, an optimization cycle
 * run to its end, a Kafka message consumed), then scraped on /metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertRules, dashboardQueries, exposedNames, metricNames } from '../deploy/observability';
import { eventually, testEnv, uniqueName } from '../helpers/env';
import { connectKafka, type KafkaClients } from '../helpers/kafka';
import { startLiveSystem, type LiveSystem } from '../helpers/live-system';
import { spawnEntrypoint, type Spawned } from '../helpers/process';
import { freePort } from '../../platform/net';

const PROCESSES = ['api', 'orchestration', 'analysis', 'integrations', 'stream'] as const;

let sys: LiveSystem;
let kafka: KafkaClients;
let stream: Spawned | undefined;
let streamPort: number;
const exposition = new Map<(typeof PROCESSES)[number], string>();

async function scrape(port: number): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(r.status).toBe(200);
  return r.text();
}

beforeAll(async () => {
  sys = await startLiveSystem({ integrations: true, workerEnv: { TEMPORAL_CORE_METRICS: 'true' } });
  kafka = await connectKafka('metric-names');
  const topic = uniqueName('metric-names');
  await kafka.admin.createTopics({
    topics: [topic, `${topic}.dlq`].map((t) => ({ topic: t, numPartitions: 1 })),
    waitForLeaders: true,
  });
  streamPort = await freePort();
  stream = spawnEntrypoint('workers/stream.ts', {
    NODE_ENV: 'test',
    DATABASE_URL: testEnv.DATABASE_URL,
    REDIS_URL: testEnv.REDIS_URL,
    TEMPORAL_ADDRESS: testEnv.TEMPORAL_ADDRESS,
    KAFKA_BROKERS: testEnv.KAFKA_BROKERS,
    KAFKA_EVENTS_TOPIC: topic,
    KAFKA_DLQ_TOPIC: `${topic}.dlq`,
    KAFKA_CONSUMER_GROUP: uniqueName('metric-names-group'),
    INGEST_FLUSH_INTERVAL_MS: '200',
    HEALTH_PORT: String(streamPort),
    LOG_LEVEL: 'warn',
  });

  // Traffic through each stage: a target, events through the API's front door, a cycle to its end,
  // and a message through the stream process.
  const target = uniqueName('metric-names');
  const arms = [
    { id: 'big', provider: 'openai', model: 'gpt-4o' },
    { id: 'small', provider: 'anthropic', model: 'claude-3-5-haiku' },
  ];
  expect((await sys.call('POST', '/v1/targets', { name: target, arms })).status).toBe(201);
  const now = Date.now();
  const events = Array.from({ length: 20 }, (_, i) => ({
    id: `${target}-${i}`,
    type: 'llm.request',
    timestamp: new Date(now - i * 1000).toISOString(),
    target,
    segment: 'default',
    arm: i % 2 ? 'big' : 'small',
    request_id: `${target}-r${i}`,
    model: i % 2 ? 'gpt-4o' : 'claude-3-5-haiku',
    provider: i % 2 ? 'openai' : 'anthropic',
    latency_ms: 100 + i,
    input_tokens: 10,
    output_tokens: 20,
    status: 'ok',
  }));
  // The last one is a resend: counted once, deduplicated once.
  const sent = await sys.call('POST', '/v1/events', [...events, events[0]]);
  expect(sent.status).toBe(202);
  const started = await sys.call('POST', '/v1/optimizations', { target });
  expect(started.status).toBe(202);
  await eventually(
    async () => (await sys.call('GET', `/v1/optimizations/${started.body.id}`)).body.status === 'completed',
    { timeoutMs: 120_000, what: 'the cycle to complete' },
  );
  await kafka.producer.send({ topic, acks: -1, messages: [{ value: JSON.stringify(events[1]) }] });

  await eventually(
    async () => (await fetch(`http://127.0.0.1:${streamPort}/readyz`).catch(() => null))?.status === 200,
    { timeoutMs: 120_000, what: 'the stream process to be ready' },
  );
  // Each process has shown what this traffic makes it expose: the shards their commits, the analysis
  // worker the cycle's decisions and the Temporal SDK its task latencies.
  const wanted: Record<(typeof PROCESSES)[number], RegExp> = {
    api: /^llmopt_ingest_events_counted_total\{[^}]*\} [1-9]/m,
    orchestration: /^temporal_workflow_task_schedule_to_start_latency_bucket/m,
    analysis: /^llmopt_cycles_total\{[^}]*outcome="no_change"/m,
    integrations: /^temporal_num_pollers/m,
    stream: /^llmopt_stream_consumer_lag_messages\{/m,
  };
  const ports = { ...sys.ports, stream: streamPort };
  for (const p of PROCESSES)
    exposition.set(
      p,
      await eventually(
        async () => {
          const text = await scrape(ports[p]);
          return wanted[p].test(text) ? text : undefined;
        },
        { timeoutMs: 60_000, what: `the ${p} process to expose ${wanted[p].source}` },
      ),
    );
}, 300_000);

afterAll(async () => {
  if (stream && stream.child.exitCode === null) {
    stream.child.kill('SIGTERM');
    await stream.exited;
  }
  await kafka?.disconnect();
  await sys?.stop();
});

describe('the metrics dashboards and alerts name', () => {
  it('are all exposed by some process', () => {
    const exposed = new Map<string, string[]>();
    for (const [p, text] of exposition)
      for (const name of exposedNames(text)) exposed.set(name, [...(exposed.get(name) ?? []), p]);
    const named = [
      ...dashboardQueries().map((q) => ({ where: q.where, expr: q.expr })),
      ...alertRules().map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
    ];
    const missing = named.flatMap(({ where, expr }) =>
      metricNames(expr)
        .filter((n) => !exposed.has(n))
        .map((n) => `${n} (${where})`),
    );
    expect(missing).toEqual([]);
    expect(named.length).toBeGreaterThan(50);
  });

  it('come from the processes that run each stage', () => {
    const by = (p: (typeof PROCESSES)[number]) => exposedNames(exposition.get(p)!);
    expect(by('api')).toContain('llmopt_ingest_events_accepted_total');
    expect(by('api')).toContain('llmopt_stream_window_commit_duration_seconds_bucket');
    expect(by('stream')).toContain('llmopt_stream_consumer_lag_messages');
    expect(by('analysis')).toContain('llmopt_decisions_total');
    expect(by('analysis')).toContain('temporal_activity_schedule_to_start_latency_bucket');
    expect(by('orchestration')).toContain('llmopt_rollouts_total');
    for (const worker of ['orchestration', 'analysis', 'integrations'] as const)
      expect(by(worker)).toContain('temporal_worker_task_slots_available');
    // The API runs no workflow outcome; the workers no ingest front door.
    expect(by('api')).not.toContain('llmopt_cycles_total');
    expect(by('analysis')).not.toContain('llmopt_ingest_events_accepted_total');
  });
});
