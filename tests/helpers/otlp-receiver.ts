/**
 * A local OTLP/HTTP traces receiver, as a collector's HTTP port answers: `POST /v1/traces` with an
 * ExportTraceServiceRequest in protobuf (`application/x-protobuf`) or JSON (`application/json`), gzip or
 * not, decoded by the API's own OTLP decoders. It keeps every span it was sent, with its resource's
 * service.name, for tests and the bench.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { decodeOtlpJson, decodeOtlpProtobuf } from '../../pipeline/decoders/otlp';

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  name: string;
  serviceName: string;
  attributes: Record<string, string | number | boolean>;
}

export interface OtlpReceiver {
  /** Base URL, as OTEL_EXPORTER_OTLP_ENDPOINT takes it. */
  endpoint: string;
  spans: ReceivedSpan[];
  /** Export requests received, by content type. */
  requests: Record<string, number>;
  close(): Promise<void>;
}

type KeyValue = NonNullable<
  NonNullable<ReturnType<typeof decodeOtlpJson>['resourceSpans']>[number]['resource']
>['attributes'];

function attributesOf(list: KeyValue = []): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of list) {
    if (value?.intValue !== undefined) out[key] = Number(value.intValue);
    else {
      const v = value?.stringValue ?? value?.boolValue ?? value?.doubleValue;
      if (v !== undefined) out[key] = v;
    }
  }
  return out;
}

/** OTLP JSON carries ids in hex; protobuf bytes come back from protobufjs in base64. */
const hex = (id: string | undefined, protobuf: boolean) =>
  !id ? '' : protobuf ? Buffer.from(id, 'base64').toString('hex') : id.toLowerCase();

function receive(contentType: string, bytes: Buffer, spans: ReceivedSpan[]): void {
  const protobuf = !contentType.startsWith('application/json');
  const request = protobuf ? decodeOtlpProtobuf(bytes) : decodeOtlpJson(bytes.toString('utf8'));
  for (const rs of request.resourceSpans ?? []) {
    const serviceName = String(attributesOf(rs.resource?.attributes)['service.name'] ?? '');
    for (const ss of rs.scopeSpans ?? [])
      for (const s of ss.spans ?? [])
        spans.push({
          traceId: hex(s.traceId, protobuf),
          spanId: hex(s.spanId, protobuf),
          parentSpanId: hex(s.parentSpanId, protobuf),
          name: s.name ?? '',
          serviceName,
          attributes: attributesOf(s.attributes),
        });
  }
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const requests: Record<string, number> = {};
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const contentType = req.headers['content-type'] ?? '';
      try {
        let bytes = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') bytes = gunzipSync(bytes);
        receive(contentType, bytes, spans);
        requests[contentType] = (requests[contentType] ?? 0) + 1;
        const json = contentType.startsWith('application/json');
        res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
        res.end(json ? '{}' : undefined);
      } catch (err) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
