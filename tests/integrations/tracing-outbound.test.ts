/**
 * Tracing inside one process (platform/tracing.ts): a request arriving with a caller's `traceparent` is
 * a server span of that trace, the log lines written while it is handled carry its trace_id and span_id,
 * and an outbound call made for it (platform/outbound.ts, as webhooks and providers are called) is a
 * client span that hands the trace to the receiver in its own `traceparent`.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../platform/logger';
import { destinationPolicy, guardedRequest } from '../../platform/outbound';
import { startTracing, stopTracing, traceHttpServer } from '../../platform/tracing';
import { eventually, testEnv } from '../helpers/env';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver';

const listen = async (server: Server) => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};

let receiver: OtlpReceiver;
const servers: Server[] = [];

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  await startTracing('tracing-test', {
    ...testEnv,
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
  });
});

afterAll(async () => {
  await stopTracing();
  for (const s of servers) s.close();
  await receiver.close();
});

describe('a traced request in one process', () => {
  it('logs under its trace and hands the trace on to the address it calls', async () => {
    const received: (string | undefined)[] = [];
    const upstream = createServer((req, res) => {
      received.push(req.headers.traceparent as string | undefined);
      res.end('ok');
    });
    servers.push(upstream);
    const upstreamUrl = await listen(upstream);

    const lines: Record<string, unknown>[] = [];
    const logger = createLogger(
      'tracing-test',
      'info',
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          done();
        },
      }),
    );
    const loopback = destinationPolicy({ WEBHOOK_ALLOW_PRIVATE_DESTINATIONS: true });
    const api = createServer(
      traceHttpServer((_req, res) => {
        logger.info('calling the receiver');
        void guardedRequest(
          { method: 'POST', url: `${upstreamUrl}/hook`, body: '{}', timeoutMs: 5_000 },
          loopback,
        ).then((r) => res.writeHead(r.status).end());
      }),
    );
    servers.push(api);
    const apiUrl = await listen(api);

    const traceId = randomBytes(16).toString('hex');
    const callerSpanId = randomBytes(8).toString('hex');
    const res = await fetch(apiUrl, { headers: { traceparent: `00-${traceId}-${callerSpanId}-01` } });
    expect(res.status).toBe(200);

    const spans = await eventually(
      async () => {
        const mine = receiver.spans.filter((s) => s.traceId === traceId);
        return mine.length >= 2 ? mine : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'the two spans at the receiver' },
    );
    const server = spans.find((s) => s.parentSpanId === callerSpanId)!;
    const client = spans.find((s) => s.parentSpanId === server.spanId)!;
    expect(server.name).toBe('GET');
    expect(client).toMatchObject({
      name: 'POST',
      serviceName: 'tracing-test',
      attributes: { 'server.address': '127.0.0.1', 'http.response.status_code': 200 },
    });
    // Only the host is recorded: webhook and Slack URLs carry secrets in their path.
    expect(JSON.stringify(client.attributes)).not.toContain('/hook');
    expect(received).toEqual([`00-${traceId}-${client.spanId}-01`]);
    expect(lines[0]).toMatchObject({
      msg: 'calling the receiver',
      trace_id: traceId,
      span_id: server.spanId,
    });
  });
});
