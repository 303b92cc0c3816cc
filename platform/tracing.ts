/**
 * Tracing with OpenTelemetry, off unless OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_TRACES_EXPORTER) says where
 * spans go. Off, nothing of the SDK is loaded and every hook below hands back what it was given, so the
 * hot paths run exactly as without tracing. On, one trace follows a request through the processes:
 *
 * - the entry spans are made here, explicitly (`traceHttpServer`, `traceGrpcService`), with the caller's
 *   W3C `traceparent` taken as parent: the processes are ESM bundles, where the http instrumentation's
 *   require hook never sees `node:http` being loaded, and an explicit span costs one closure per request;
 * - Temporal carries the context from the client's start to the workflow and from the workflow to each
 *   activity (@temporalio/interceptors-opentelemetry: client, activity and workflow interceptors, the
 *   workflow's spans exported through a sink);
 * - pg and ioredis are patched by their instrumentations: those patch the modules' prototypes, which an
 *   ESM `import` shares with `require`, so requiring them once after the SDK starts patches the copies the
 *   process already loaded; fetch (undici) is traced through its diagnostics channel;
 * - every outbound call of platform/outbound.ts (webhooks, Slack, GitHub, Jira, Anthropic) is a client span
 *   that sends `traceparent` (`traceOutbound`).
 *
 * Not traced: Kafka produce and consume, the write-ahead log, and the API's cluster primary.
 */
import { createRequire } from 'node:module';
import type * as OtelApi from '@opentelemetry/api';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as OtelClient from '@temporalio/interceptors-opentelemetry/lib/client';
import type * as OtelWorker from '@temporalio/interceptors-opentelemetry/lib/worker';
import type { WorkerOptions } from '@temporalio/worker';
import type { Env } from './env';

/** The variables of platform/env.ts that configure tracing. */
export type TracingEnv = Pick<
  Env,
  | 'OTEL_EXPORTER_OTLP_ENDPOINT'
  | 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'
  | 'OTEL_EXPORTER_OTLP_PROTOCOL'
  | 'OTEL_TRACES_EXPORTER'
  | 'OTEL_SERVICE_NAME'
  | 'OTEL_TRACES_SAMPLER'
  | 'OTEL_TRACES_SAMPLER_ARG'
>;

/** The few logger methods tracing uses (platform/logger.ts's pino logger is one). */
interface TracingLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** The Worker.create options tracing adds (a type only: this module loads no worker code). */
export type WorkerTracingOptions = Pick<WorkerOptions, 'interceptors' | 'sinks'>;

interface Active {
  api: typeof OtelApi;
  tracer: OtelApi.Tracer;
  shutdown(): Promise<void>;
  clientInterceptors: unknown[];
  worker: () => WorkerTracingOptions;
}

let active: Active | undefined;

const requireCjs = createRequire(import.meta.url);

/** The workflow interceptors module bundled into the workflow code when tracing is on. */
export const workflowTracingModule = (): string =>
  requireCjs.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors');

/** Whether the variables ask for tracing: an endpoint, or an exporter other than none. */
export function tracingRequested(env: TracingEnv): boolean {
  if (env.OTEL_TRACES_EXPORTER === 'none') return false;
  return (
    env.OTEL_TRACES_EXPORTER !== undefined ||
    env.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined ||
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined
  );
}

export function tracingEnabled(): boolean {
  return active !== undefined;
}

/** The traces URL: the signal's own endpoint as given, else `<endpoint>/v1/traces` (the OTLP rule). */
export function tracesUrl(env: TracingEnv): string | undefined {
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT)
    return `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`;
  return undefined;
}

async function createExporter(env: TracingEnv) {
  if (env.OTEL_TRACES_EXPORTER === 'console') {
    const { ConsoleSpanExporter } = await import('@opentelemetry/sdk-trace-base');
    return new ConsoleSpanExporter();
  }
  const url = tracesUrl(env);
  const options = url ? { url } : {};
  if (env.OTEL_EXPORTER_OTLP_PROTOCOL === 'http/json') {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    return new OTLPTraceExporter(options);
  }
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter(options);
}

async function createSampler(env: TracingEnv) {
  const base = await import('@opentelemetry/sdk-trace-base');
  const ratio = new base.TraceIdRatioBasedSampler(env.OTEL_TRACES_SAMPLER_ARG);
  switch (env.OTEL_TRACES_SAMPLER) {
    case 'always_on':
      return new base.AlwaysOnSampler();
    case 'always_off':
      return new base.AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_off':
      return new base.ParentBasedSampler({ root: new base.AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new base.ParentBasedSampler({ root: ratio });
    case 'parentbased_always_on':
      return new base.ParentBasedSampler({ root: new base.AlwaysOnSampler() });
  }
}

/**
 * Starts the SDK for this process when the variables ask for it (else does nothing): spans of service
 * `OTEL_SERVICE_NAME` or the process name, exported in batches. Call it first in a process's start,
 * before the Temporal client or worker is made; `stopTracing` flushes.
 */
export async function startTracing(processName: string, env: TracingEnv, log?: TracingLog): Promise<void> {
  if (active || !tracingRequested(env)) return;
  const [api, { NodeSDK, resources }, base, pg, ioredis, undici] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/instrumentation-pg'),
    import('@opentelemetry/instrumentation-ioredis'),
    import('@opentelemetry/instrumentation-undici'),
  ]);
  const serviceName = env.OTEL_SERVICE_NAME ?? processName;
  // OTEL_RESOURCE_ATTRIBUTES, host and process, under our service name; the workflow spans get the same.
  const resource = resources
    .detectResources({
      detectors: [resources.envDetector, resources.hostDetector, resources.processDetector],
    })
    .merge(
      resources.resourceFromAttributes({
        'service.name': serviceName,
        'service.namespace': 'llm-auto-optimizer',
      }),
    );
  const processor = new base.BatchSpanProcessor(await createExporter(env));
  const sdk = new NodeSDK({
    resource,
    autoDetectResources: false,
    sampler: await createSampler(env),
    spanProcessors: [processor],
    // Traces only: the metrics are Prometheus's (/metrics) and the logs pino's.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      // Only inside a trace: a pool's idle checks and the cache bus's pings would each be a trace alone.
      new pg.PgInstrumentation({ requireParentSpan: true, ignoreConnectSpans: true }),
      new ioredis.IORedisInstrumentation({ requireParentSpan: true }),
      new undici.UndiciInstrumentation({ requireParentforSpans: true }),
    ],
  });
  sdk.start();
  patchLoadedModules();
  const temporal = temporalTracing(processor, resource);
  active = {
    api,
    tracer: api.trace.getTracer('llm-auto-optimizer'),
    clientInterceptors: temporal.clientInterceptors,
    worker: temporal.worker,
    shutdown: () => sdk.shutdown(),
  };
  log?.info(
    {
      serviceName,
      exporter: env.OTEL_TRACES_EXPORTER ?? 'otlp',
      url: tracesUrl(env),
      protocol: env.OTEL_EXPORTER_OTLP_PROTOCOL,
      sampler: env.OTEL_TRACES_SAMPLER,
    },
    'tracing on',
  );
}

/**
 * The instrumentations patch a module when it is required after they are registered; the process loaded
 * pg and ioredis before (ESM imports are evaluated before any code), so each is required once more here.
 * The patches go on the classes' prototypes, which the ESM imports share.
 */
function patchLoadedModules(): void {
  for (const name of ['pg', 'pg-pool', 'ioredis']) {
    try {
      requireCjs(name);
    } catch {
      // Not installed where this process runs (pg-pool comes with pg): nothing to patch.
    }
  }
}

/** The span processor of the workflow sink: workflow spans come in the SDK's older span shape. */
function workflowSpanProcessor(processor: { onEnd(span: never): void; forceFlush(): Promise<void> }) {
  return {
    onStart() {},
    onEnd(span: Record<string, unknown> & { spanContext(): OtelApi.SpanContext }) {
      const context = span.spanContext();
      const parentSpanId = span.parentSpanId as string | undefined;
      processor.onEnd({
        ...span,
        parentSpanContext:
          span.parentSpanContext ??
          (parentSpanId
            ? { traceId: context.traceId, spanId: parentSpanId, traceFlags: context.traceFlags }
            : undefined),
        instrumentationScope: span.instrumentationScope ?? span.instrumentationLibrary,
      } as never);
    },
    forceFlush: () => processor.forceFlush(),
    shutdown: async () => {},
  };
}

function temporalTracing(
  processor: { onEnd(span: never): void; forceFlush(): Promise<void> },
  resource: unknown,
) {
  // The client interceptor's module alone: the package's index loads worker code, which the API never loads.
  const { OpenTelemetryWorkflowClientInterceptor } = requireCjs(
    '@temporalio/interceptors-opentelemetry/lib/client',
  ) as typeof OtelClient;
  const worker = (): WorkerTracingOptions => {
    const otel = requireCjs('@temporalio/interceptors-opentelemetry/lib/worker') as typeof OtelWorker;
    return {
      interceptors: {
        activity: [
          (ctx: ConstructorParameters<typeof otel.OpenTelemetryActivityInboundInterceptor>[0]) => ({
            inbound: new otel.OpenTelemetryActivityInboundInterceptor(ctx),
            outbound: new otel.OpenTelemetryActivityOutboundInterceptor(ctx),
          }),
        ],
      },
      sinks: {
        exporter: otel.makeWorkflowExporter(workflowSpanProcessor(processor) as never, resource as never),
      },
    };
  };
  return { clientInterceptors: [new OpenTelemetryWorkflowClientInterceptor()], worker };
}

/** Flushes and ends the SDK (within `timeoutMs`: a collector that does not answer must not hold a stop). */
export async function stopTracing(timeoutMs = 2_000): Promise<void> {
  const current = active;
  if (!current) return;
  active = undefined;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    current.shutdown().catch(() => undefined),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
  ]);
  clearTimeout(timer);
}

/** The Temporal client's interceptors: the workflow start, signals and updates carry the trace. */
export function temporalClientInterceptors(): { workflow: never[] } | undefined {
  return active ? { workflow: active.clientInterceptors as never[] } : undefined;
}

/** Worker.create options: activities continue the workflow's trace, workflow spans leave through a sink. */
export function temporalWorkerTracing(): WorkerTracingOptions {
  return active ? active.worker() : {};
}

/** Workflow interceptor modules for the workflow bundle: the OpenTelemetry ones when tracing is on. */
export function workflowTracingModules(): string[] {
  return active ? [workflowTracingModule()] : [];
}

/** trace_id and span_id of the active span, for log lines (a new object each call: pino merges into it). */
export function traceFields(): Record<string, string> {
  if (!active) return {};
  const span = active.api.trace.getActiveSpan();
  if (!span) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * A server span around each request of `listener`, child of the caller's `traceparent`, ended when the
 * response closes. Its name is the method until `nameServerSpan` gives it the route.
 */
export function traceHttpServer(listener: Listener): Listener {
  const t = active;
  if (!t) return listener;
  const { api, tracer } = t;
  return (req, res) => {
    const parent = api.propagation.extract(api.ROOT_CONTEXT, req.headers);
    const span = tracer.startSpan(
      req.method ?? 'HTTP',
      {
        kind: api.SpanKind.SERVER,
        attributes: { 'http.request.method': req.method ?? '', 'url.path': (req.url ?? '/').split('?')[0]! },
      },
      parent,
    );
    res.once('close', () => {
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: api.SpanStatusCode.ERROR });
      if (!res.writableFinished) span.setAttribute('http.aborted', true);
      span.end();
    });
    api.context.with(api.trace.setSpan(parent, span), listener, undefined, req, res);
  };
}

/** Names the active server span after the route that answered (`GET /v1/targets/:target/config`). */
export function nameServerSpan(method: string, route: string): void {
  const span = active?.api.trace.getActiveSpan();
  if (!span) return;
  span.updateName(`${method} ${route}`);
  span.setAttribute('http.route', route);
}

interface GrpcMethodDefinition {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
}

interface GrpcCall {
  metadata: { getMap(): Record<string, string | Buffer> };
  once?(event: string, fn: () => void): unknown;
}

type GrpcHandler = (
  call: GrpcCall,
  callback?: (err: { code?: number } | null, ...rest: unknown[]) => void,
) => unknown;

/**
 * A gRPC service implementation whose every call is a server span, child of the `traceparent` in the
 * call's metadata; unchanged when tracing is off. Unary and client-streaming calls end with their
 * callback, streaming answers when the call ends.
 */
export function traceGrpcService<I extends object>(
  definition: Record<string, GrpcMethodDefinition>,
  implementation: I,
): I {
  const t = active;
  if (!t) return implementation;
  const { api, tracer } = t;
  const traced: Record<string, GrpcHandler> = {};
  for (const [name, handler] of Object.entries(implementation as Record<string, GrpcHandler>)) {
    const method = definition[name];
    if (!method) {
      traced[name] = handler;
      continue;
    }
    const path = method.path.replace(/^\//, '');
    const [service, rpc] = path.split('/') as [string, string];
    traced[name] = (call, callback) => {
      const carrier: Record<string, string> = {};
      for (const [k, v] of Object.entries(call.metadata.getMap())) if (typeof v === 'string') carrier[k] = v;
      const parent = api.propagation.extract(api.ROOT_CONTEXT, carrier);
      const span = tracer.startSpan(
        path,
        {
          kind: api.SpanKind.SERVER,
          attributes: { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': rpc },
        },
        parent,
      );
      let ended = false;
      const end = (code: number) => {
        if (ended) return;
        ended = true;
        span.setAttribute('rpc.grpc.status_code', code);
        if (code !== 0) span.setStatus({ code: api.SpanStatusCode.ERROR });
        span.end();
      };
      const run = () => {
        if (method.responseStream) {
          call.once?.('finish', () => end(0));
          call.once?.('close', () => end(0));
          call.once?.('cancelled', () => end(1));
          return handler(call);
        }
        return handler(call, (err, ...rest) => {
          end(err ? (err.code ?? 2) : 0);
          callback!(err, ...rest);
        });
      };
      return api.context.with(api.trace.setSpan(parent, span), run);
    };
  }
  return traced as I;
}

/**
 * A client span around one outbound HTTP exchange; `send` gets the headers to add (`traceparent`).
 * Only the host is recorded, never the URL: webhook and Slack URLs carry secrets in their path.
 */
export async function traceOutbound<T extends { status: number }>(
  method: string,
  url: URL,
  send: (headers: Record<string, string>) => Promise<T>,
): Promise<T> {
  const t = active;
  if (!t) return send({});
  const { api, tracer } = t;
  const span = tracer.startSpan(method, {
    kind: api.SpanKind.CLIENT,
    attributes: {
      'http.request.method': method,
      'server.address': url.hostname,
      'server.port': Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
      'url.scheme': url.protocol.replace(/:$/, ''),
    },
  });
  const ctx = api.trace.setSpan(api.context.active(), span);
  const headers: Record<string, string> = {};
  api.propagation.inject(ctx, headers);
  try {
    const res = await api.context.with(ctx, () => send(headers));
    span.setAttribute('http.response.status_code', res.status);
    if (res.status >= 400) span.setStatus({ code: api.SpanStatusCode.ERROR });
    return res;
  } catch (err) {
    span.setStatus({
      code: api.SpanStatusCode.ERROR,
      message: err instanceof Error ? err.message : String(err),
    });
    throw err;
  } finally {
    span.end();
  }
}
