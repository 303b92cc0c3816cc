/**
 * OTLP/HTTP: a real OpenTelemetry SDK exporter (JSON and protobuf) sends GenAI spans to POST /v1/traces
 * of the served API; they show up as llm.request aggregates per target and arm. Spans without GenAI
 * attributes are skipped; invalid ones come back as OTLP partial success.
 */
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueName } from '../../helpers/env';
import { call, startTestSystem, type TestSystem } from '../../helpers/system';

let sys: TestSystem;
let server: ReturnType<typeof serve>;
let url: string;
beforeAll(async () => {
  sys = await startTestSystem({
    workers: false,
    ingest: {
      name: uniqueName('otlp'),
      env: { DATA_DIR: mkdtempSync(join(tmpdir(), 'llmopt-otlp-')), INGEST_FLUSH_INTERVAL_MS: 100 },
    },
  });
  server = await new Promise((resolve) => {
    const s = serve({ fetch: sys.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
});
afterAll(async () => {
  await new Promise<void>((r) => server?.close(() => r()));
  await sys?.stop();
});

async function exportSpans(exporter: SpanExporter, target: string, model: string) {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'chat-app', 'llmopt.target': target }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('genai-test');
  const t0 = Date.now() - 30_000;
  for (let i = 0; i < 6; i++) {
    const span = tracer.startSpan('chat gpt-4o-mini', {
      startTime: t0 + i * 1000,
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': model,
        'gen_ai.usage.input_tokens': 1000,
        'gen_ai.usage.output_tokens': 200,
        'llmopt.arm': i < 4 ? 'mini' : 'big',
        ...(i === 5 ? { 'error.type': 'timeout' } : {}),
      },
    });
    span.end(t0 + i * 1000 + 250);
  }
  tracer.startSpan('GET /healthz', { startTime: t0 }).end(t0 + 1); // not an LLM call: skipped
  await provider.forceFlush();
  await provider.shutdown();
}

async function byArm(target: string) {
  await sys.ingest!.pipeline.drain();
  const r = await call(
    sys,
    'GET',
    `/v1/targets/${target}/metrics?step=1d&from=${new Date(Date.now() - 3_600_000).toISOString()}`,
  );
  expect(r.status).toBe(200);
  return Object.fromEntries(
    r.body.series.map((s: { arm: string; points: unknown[] }) => [s.arm, s.points[0]]),
  );
}

describe('POST /v1/traces', () => {
  for (const [name, Exporter] of [
    ['JSON', JsonExporter],
    ['protobuf', ProtoExporter],
  ] as const) {
    it(`maps GenAI spans from a real OTLP ${name} exporter to llm.request aggregates`, async () => {
      const target = uniqueName('otlp');
      // A model of its own: other test files may edit the shared price table's well-known models.
      const model = uniqueName('mini');
      const price = {
        input_usd_per_mtok: 0.15,
        output_usd_per_mtok: 0.6,
        effective_from: new Date(Date.now() - 3_600_000).toISOString(),
      };
      expect((await call(sys, 'PUT', `/v1/prices/${model}`, price)).status).toBe(200);
      const exporter = new Exporter({ url, headers: { authorization: `Bearer ${sys.adminKey}` } });
      await exportSpans(exporter, target, model);
      const arms = await byArm(target);
      expect(Object.keys(arms).sort()).toEqual(['big', 'mini']);
      expect(arms.mini).toMatchObject({ count: 4, ok: 4, input_tokens: 4000, output_tokens: 800 });
      expect(arms.big).toMatchObject({ count: 2, ok: 1, errors: { timeout: 1 } });
      expect(arms.mini.latency.p50).toBeGreaterThan(250 * 0.98);
      expect(arms.mini.latency.p50).toBeLessThan(250 * 1.02);
      // Priced from the table: 1000 × $0.15/M + 200 × $0.6/M.
      expect(arms.mini.cost_usd).toBeCloseTo((4 * (1000 * 0.15 + 200 * 0.6)) / 1e6, 9);
    });
  }

  it('reports invalid GenAI spans as OTLP partial success and rejects a non-OTLP body precisely', async () => {
    const target = uniqueName('otlp-bad');
    const now = BigInt(Date.now()) * 1_000_000n;
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'llmopt.target', value: { stringValue: target } }] },
          scopeSpans: [
            {
              spans: [
                {
                  traceId: '0af7651916cd43dd8448eb211c80319c',
                  spanId: 'b7ad6b7169203331',
                  name: 'chat',
                  startTimeUnixNano: String(now - 5_000_000n),
                  endTimeUnixNano: String(now),
                  attributes: [
                    { key: 'gen_ai.request.model', value: { stringValue: 'm' } },
                    { key: 'gen_ai.usage.input_tokens', value: { intValue: '-3' } },
                  ],
                },
              ],
            },
          ],
        },
      ],
    };
    const r = await call(sys, 'POST', '/v1/traces', body);
    expect(r.status).toBe(200);
    expect(r.body.partialSuccess.rejectedSpans).toBe(1);
    expect(r.body.partialSuccess.errorMessage).toContain('[0].input_tokens');
    const bad = await call(sys, 'POST', '/v1/traces', 'not json');
    expect(bad.status).toBe(400);
    const proto = await sys.app.request('/v1/traces', {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf', authorization: `Bearer ${sys.adminKey}` },
      body: Buffer.from([0xff, 0xff, 0xff]),
    });
    expect(proto.status).toBe(400);
  });
});
