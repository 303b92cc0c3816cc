/**
 * OTLP/HTTP trace ingestion: decodes ExportTraceServiceRequest (protobuf via protobufjs over the OTLP
 * field numbers, or the OTLP JSON encoding) and maps spans carrying GenAI semantic-convention attributes
 * (gen_ai.request.model, gen_ai.usage.input_tokens, ...) to llm.request events. Spans without GenAI
 * attributes are not LLM calls and are skipped, not rejected.
 */
import protobuf from 'protobufjs';
import { AppError } from '../../domain/errors';
import { parseJsonBody } from './body';

// The subset of opentelemetry/proto (collector/trace/v1, trace/v1, common/v1, resource/v1) we read.
const root = protobuf.Root.fromJSON({
  nested: {
    otlp: {
      nested: {
        ExportTraceServiceRequest: {
          fields: { resourceSpans: { rule: 'repeated', type: 'ResourceSpans', id: 1 } },
        },
        ExportTraceServiceResponse: { fields: { partialSuccess: { type: 'PartialSuccess', id: 1 } } },
        PartialSuccess: {
          fields: { rejectedSpans: { type: 'int64', id: 1 }, errorMessage: { type: 'string', id: 2 } },
        },
        ResourceSpans: {
          fields: {
            resource: { type: 'Resource', id: 1 },
            scopeSpans: { rule: 'repeated', type: 'ScopeSpans', id: 2 },
          },
        },
        Resource: { fields: { attributes: { rule: 'repeated', type: 'KeyValue', id: 1 } } },
        ScopeSpans: { fields: { spans: { rule: 'repeated', type: 'Span', id: 2 } } },
        Span: {
          fields: {
            traceId: { type: 'bytes', id: 1 },
            spanId: { type: 'bytes', id: 2 },
            parentSpanId: { type: 'bytes', id: 4 },
            name: { type: 'string', id: 5 },
            startTimeUnixNano: { type: 'fixed64', id: 7 },
            endTimeUnixNano: { type: 'fixed64', id: 8 },
            attributes: { rule: 'repeated', type: 'KeyValue', id: 9 },
            status: { type: 'Status', id: 15 },
          },
        },
        Status: { fields: { message: { type: 'string', id: 2 }, code: { type: 'int32', id: 3 } } },
        KeyValue: { fields: { key: { type: 'string', id: 1 }, value: { type: 'AnyValue', id: 2 } } },
        AnyValue: {
          oneofs: {
            value: {
              oneof: [
                'stringValue',
                'boolValue',
                'intValue',
                'doubleValue',
                'arrayValue',
                'kvlistValue',
                'bytesValue',
              ],
            },
          },
          fields: {
            stringValue: { type: 'string', id: 1 },
            boolValue: { type: 'bool', id: 2 },
            intValue: { type: 'int64', id: 3 },
            doubleValue: { type: 'double', id: 4 },
            arrayValue: { type: 'ArrayValue', id: 5 },
            kvlistValue: { type: 'KeyValueList', id: 6 },
            bytesValue: { type: 'bytes', id: 7 },
          },
        },
        ArrayValue: { fields: { values: { rule: 'repeated', type: 'AnyValue', id: 1 } } },
        KeyValueList: { fields: { values: { rule: 'repeated', type: 'KeyValue', id: 1 } } },
      },
    },
  },
});
const RequestType = root.lookupType('otlp.ExportTraceServiceRequest');
const ResponseType = root.lookupType('otlp.ExportTraceServiceResponse');

type AnyValue = {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: unknown;
  kvlistValue?: unknown;
  bytesValue?: unknown;
};
interface KeyValue {
  key: string;
  value?: AnyValue;
}
interface OtlpSpan {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
  startTimeUnixNano?: string | number;
  endTimeUnixNano?: string | number;
  attributes?: KeyValue[];
  status?: { code?: number | string; message?: string };
}
interface OtlpRequest {
  resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { spans?: OtlpSpan[] }[] }[];
}

export function decodeOtlpProtobuf(body: Buffer): OtlpRequest {
  try {
    const msg = RequestType.decode(body);
    const decoded: OtlpRequest = RequestType.toObject(msg, { longs: String, bytes: String, defaults: false });
    return decoded;
  } catch (err) {
    throw new AppError(
      'bad_request',
      `body is not an OTLP ExportTraceServiceRequest: ${(err as Error).message}`,
      {
        issues: [{ path: '(body)', message: 'invalid protobuf' }],
      },
    );
  }
}

export function decodeOtlpJson(text: string): OtlpRequest {
  const parsed = parseJsonBody(text);
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    !Array.isArray((parsed as OtlpRequest).resourceSpans ?? [])
  ) {
    throw new AppError('validation', 'expected an OTLP ExportTraceServiceRequest', {
      issues: [{ path: 'resourceSpans', message: 'expected an array' }],
    });
  }
  return parsed;
}

/** An empty response, or one reporting rejected spans (OTLP partial success), in protobuf. */
export function encodeOtlpResponse(rejected: number, message: string): Buffer {
  const body = rejected > 0 ? { partialSuccess: { rejectedSpans: rejected, errorMessage: message } } : {};
  return Buffer.from(ResponseType.encode(ResponseType.fromObject(body)).finish());
}

function scalar(v: AnyValue | undefined): string | number | boolean | undefined {
  if (!v) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  return undefined;
}

function attrs(list: KeyValue[] | undefined): Map<string, string | number | boolean> {
  const m = new Map<string, string | number | boolean>();
  for (const kv of list ?? []) {
    const v = scalar(kv.value);
    if (v !== undefined) m.set(kv.key, v);
  }
  return m;
}

/** OTLP JSON carries ids as hex; protobuf bytes come back from protobufjs as base64. */
function hexId(v: string | undefined, fromProtobuf: boolean): string {
  if (!v) return '';
  return fromProtobuf ? Buffer.from(v, 'base64').toString('hex') : v.toLowerCase();
}

const nanosToMs = (v: string | number | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? BigInt(Math.trunc(v)) : BigInt(v);
  return Number(n / 1000n) / 1000;
};

/** A slug from a service name: what an app sends as service.name becomes the target when none is set. */
const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 63);

export interface MappedSpans {
  /** One raw event per GenAI span, validated downstream like any POSTed event. */
  events: unknown[];
  skipped: number;
}

/**
 * GenAI spans → raw llm.request events. Target, segment and arm come from `llmopt.*` attributes on the
 * span or resource (falling back to service.name); the event id is derived from trace and span id, so a
 * re-exported batch dedups.
 */
export function mapSpans(req: OtlpRequest, fromProtobuf: boolean): MappedSpans {
  const events: unknown[] = [];
  let skipped = 0;
  for (const rs of req.resourceSpans ?? []) {
    const resource = attrs(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const span of ss.spans ?? []) {
        const a = attrs(span.attributes);
        const get = (k: string) => a.get(k) ?? resource.get(k);
        const model = get('gen_ai.response.model') ?? get('gen_ai.request.model');
        if (model === undefined) {
          skipped++;
          continue;
        }
        const start = nanosToMs(span.startTimeUnixNano);
        const end = nanosToMs(span.endTimeUnixNano);
        const code = span.status?.code;
        const failed = code === 2 || code === 'STATUS_CODE_ERROR';
        const errorType = get('error.type');
        const errText = String(errorType ?? '').toLowerCase();
        const status =
          !failed && errorType === undefined
            ? 'ok'
            : errText.includes('timeout')
              ? 'timeout'
              : errText.includes('rate') || errText === '429'
                ? 'rate_limited'
                : 'error';
        const num = (...keys: string[]) => {
          for (const k of keys) {
            const v = get(k);
            if (typeof v === 'number') return v;
          }
          return undefined;
        };
        const ttftSeconds = num('gen_ai.server.time_to_first_token', 'gen_ai.response.time_to_first_chunk');
        const target = get('llmopt.target') ?? slug(String(resource.get('service.name') ?? ''));
        const spanId = hexId(span.spanId, fromProtobuf);
        const event: Record<string, unknown> = {
          type: 'llm.request',
          id: `otlp-${hexId(span.traceId, fromProtobuf)}-${spanId}`,
          timestamp: start === undefined ? undefined : new Date(start).toISOString(),
          target,
          segment: get('llmopt.segment'),
          arm: get('llmopt.arm'),
          config_version: num('llmopt.config_version'),
          request_id: get('gen_ai.response.id') ?? spanId,
          model,
          provider: get('gen_ai.provider.name') ?? get('gen_ai.system') ?? 'unknown',
          latency_ms: start !== undefined && end !== undefined ? end - start : undefined,
          ttft_ms: ttftSeconds === undefined ? undefined : ttftSeconds * 1000,
          input_tokens: num('gen_ai.usage.input_tokens', 'gen_ai.usage.prompt_tokens') ?? 0,
          output_tokens: num('gen_ai.usage.output_tokens', 'gen_ai.usage.completion_tokens') ?? 0,
          cost_usd: num('llmopt.cost_usd', 'gen_ai.usage.cost'),
          status,
          error_type: errorType === undefined ? undefined : String(errorType),
          quality_score: num('llmopt.quality_score'),
        };
        for (const k of Object.keys(event)) if (event[k] === undefined) delete event[k];
        events.push(event);
      }
    }
  }
  return { events, skipped };
}
