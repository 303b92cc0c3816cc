/**
 * Tracing across the real processes: the API and the orchestration and analysis workers run with
 * OTEL_EXPORTER_OTLP_ENDPOINT pointing at a local OTLP receiver (the API exporting protobuf, the workers
 * JSON), a cycle is started over REST under a caller's `traceparent`, and the receiver gets one trace
 * that goes from the HTTP request through the workflow start, the workflow, its activities on both task
 * queues and their database calls.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, uniqueName } from '../helpers/env';
import { startLiveSystem, type LiveSystem } from '../helpers/live-system';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver';

const arms = [
  { id: 'gpt-4o', provider: 'openai', model: 'gpt-4o' },
  { id: 'haiku', provider: 'anthropic', model: 'claude-3-5-haiku' },
];

let receiver: OtlpReceiver;
let sys: LiveSystem;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  const otel = (protocol: string) => ({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
    // Batches leave within a fifth of a second instead of five, so the test waits for the spans, not the timer.
    OTEL_BSP_SCHEDULE_DELAY: '200',
  });
  sys = await startLiveSystem({ apiEnv: otel('http/protobuf'), workerEnv: otel('http/json') });
}, 180_000);

afterAll(async () => {
  await sys?.stop();
  await receiver?.close();
});

/** The chain of names from a span up to the trace's first span in our processes. */
function ancestry(span: ReceivedSpan, byId: Map<string, ReceivedSpan>): string[] {
  const names = [span.name];
  for (let p = byId.get(span.parentSpanId); p; p = byId.get(p.parentSpanId)) names.push(p.name);
  return names;
}

describe('one trace per request, across the processes', () => {
  it('follows a cycle started over REST from the request to the workflow, its activities and their queries', async () => {
    const target = uniqueName('traced');
    expect((await sys.call('POST', '/v1/targets', { name: target, arms })).status).toBe(201);

    // The caller's own trace: every span the cycle makes must belong to it.
    const traceId = randomBytes(16).toString('hex');
    const callerSpanId = randomBytes(8).toString('hex');
    const res = await fetch(`${sys.api}/v1/optimizations`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${sys.adminKey}`,
        'content-type': 'application/json',
        traceparent: `00-${traceId}-${callerSpanId}-01`,
      },
      body: JSON.stringify({ target }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };

    const trace = await eventually(
      async () => {
        const spans = receiver.spans.filter((s) => s.traceId === traceId);
        const names = new Set(spans.map((s) => `${s.serviceName} ${s.name}`));
        const complete =
          names.has('api StartWorkflow:optimizationCycle') &&
          names.has('orchestration-worker RunWorkflow:optimizationCycle') &&
          names.has('analysis-worker RunActivity:recordDecisions');
        return complete ? spans : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 200, what: `the spans of ${id} at the receiver` },
    );

    const byId = new Map(trace.map((s) => [s.spanId, s]));
    const entry = trace.find((s) => s.serviceName === 'api' && s.parentSpanId === callerSpanId);
    expect(entry).toMatchObject({
      name: 'POST /v1/optimizations',
      attributes: { 'http.route': '/v1/optimizations', 'http.response.status_code': 202 },
    });
    // Every span hangs from the request's span, whichever process made it: nothing starts a trace of its own.
    for (const span of trace) {
      const chain = ancestry(span, byId);
      expect(chain.at(-1), `${span.serviceName} ${chain.join(' < ')}`).toBe('POST /v1/optimizations');
    }
    const where = (name: string) => trace.filter((s) => s.name === name).map((s) => s.serviceName);
    expect(where('RunWorkflow:optimizationCycle')).toEqual(['orchestration-worker']);
    expect(where('RunActivity:loadTarget')).toEqual(['analysis-worker']);
    expect(where('StartActivity:loadTarget')).toEqual(['orchestration-worker']);
    // The database calls of the activities and of the request are in it too.
    const queried = trace.filter((s) => s.name.startsWith('pg.query')).map((s) => s.serviceName);
    expect(queried).toEqual(expect.arrayContaining(['api', 'analysis-worker']));
    // Both exporter encodings reached the receiver.
    expect(Object.keys(receiver.requests).sort()).toEqual(['application/json', 'application/x-protobuf']);
  }, 150_000);
});
