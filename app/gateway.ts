/**
 * The gateway: a call in a provider's wire format, routed by the live routing config, sent to the arm's
 * provider, with a fallback to the next arm on a provider failure, and every provider attempt recorded
 * as an `llm.request` event, so canaries and cycles judge gateway traffic exactly as SDK traffic.
 *
 * - The arm is chosen as the SDK chooses it (domain/routing.ts `assignArm`, the same FNV-1a buckets),
 *   keyed by the OpenAI `user` field, else the `x-llmopt-user` header, else the caller's id (the API
 *   key). The config comes through the three-tier cache, so a new version is seen within a second.
 * - A provider 5xx, 429, timeout or unreachable address falls back to the next arm: the other arms of
 *   the target in its order (no expected quality is known here yet). Any other answer of the provider
 *   (a 4xx about the request itself) is the answer: another arm would refuse it too.
 * - Telemetry never delays the answer: events are queued and handed to the ingest front door (the
 *   durable path POST /v1/events takes) in groups every few milliseconds. What a crash can lose is that
 *   queue; what the front door refuses is counted in `llmopt_gateway_events_dropped_total`.
 */
import { randomUUID } from 'node:crypto';
import { AppError } from '../domain/errors';
import type { LlmRequestEvent, RequestStatus } from '../domain/events';
import { Slug, type Arm, type RoutingConfig, type Target } from '../domain/model';
import { DEFAULT_SEGMENT } from '../domain/names';
import { assignArm } from '../domain/routing';
import type { Logger } from '../platform/logger';
import { registeredDeferredCounter, type Metrics } from '../platform/metrics';
import { gatewayMetrics } from '../platform/stage-metrics';
import { DestinationRefused } from '../platform/outbound';
import type { Redis } from 'ioredis';
import type { InvalidationBus, RoutingConfigCache } from '../adapters/cache';
import { createMemoryGcra, createRedisGcra, type Gcra } from '../adapters/cache/gcra';
import type { ProviderApi, ProviderRecord, ProvidersRepo } from '../adapters/db/repos/providers';
import type { TargetsRepo } from '../adapters/db/repos/targets';
import { ProviderTimeout, ProviderUnreachable } from '../adapters/providers/http';
import { anthropicUsageOf, messages, type MessagesBody } from '../adapters/providers/anthropic';
import type { ExchangeOptions } from '../adapters/providers/http';
import { chatCompletions, usageOf, type ChatCompletionsBody } from '../adapters/providers/openai';
import { sseUsageScanner, type Usage, type UsageReader } from '../adapters/providers/sse';
import { ingestItems, type IngestFront } from '../pipeline/front';
import type { Caller } from './caller';
import { PROVIDER_NS } from './providers';

export interface GatewayDeps {
  repos: { targets: TargetsRepo; providers: ProvidersRepo };
  caches: { routingConfigs?: RoutingConfigCache };
  bus?: InvalidationBus;
  /** Shares the arms' rate limits between API processes; per process without it. */
  redis?: Redis;
  logger: Logger;
  metrics: Metrics;
  /** The ingest front door; without one, events are counted as dropped. */
  ingest?: IngestFront;
}

export interface GatewayOptions {
  /** Deadline for a provider's answer headers, per attempt, unless the call asks for less. */
  timeoutMs?: number;
  /** Attempts per call, the first arm included. */
  maxAttempts?: number;
  /** How long an event waits for others before its group is handed to the front door. */
  flushMs?: number;
  /** How long a target's arms and a provider are kept before they are read again. */
  targetTtlMs?: number;
  providerTtlMs?: number;
}

export interface ChatCall {
  caller: Caller;
  body: unknown;
  /** `x-llmopt-user`: the assignment key when the body names no user. */
  user?: string | undefined;
  /** `anthropic-version` and `anthropic-beta` of an Anthropic client, passed on. */
  anthropicVersion?: string | undefined;
  anthropicBeta?: string | undefined;
  /** Per-attempt deadline the client asks for (`x-llmopt-timeout-ms`), capped by the gateway's own. */
  timeoutMs?: number | undefined;
  /** Aborted when the client goes away: the upstream call is cancelled with it. */
  signal?: AbortSignal;
  /** performance.now() when the request arrived, for the overhead header. */
  arrivedAt: number;
}

/** What the door answers: the provider's status and body (a stream when streaming), and our headers. */
export interface GatewayAnswer {
  status: number;
  headers: Record<string, string>;
  body: string | ReadableStream<Uint8Array>;
}

/** Every attempt failed at the provider: the answer is 502 (504 when the last timed out, 429 when rate limited). */
export class UpstreamFailed extends Error {
  override name = 'UpstreamFailed';
  constructor(
    message: string,
    readonly status: number,
    readonly headers: Record<string, string>,
  ) {
    super(message);
  }
}

interface Attempt {
  arm: Arm;
  status: RequestStatus;
  errorType?: string;
  detail: string;
}

/** A failure that moves the call to the next arm. */
class Retryable extends Error {
  constructor(
    readonly status: RequestStatus,
    readonly errorType: string,
    message: string,
  ) {
    super(message);
  }
}

const DEFAULTS: Required<GatewayOptions> = {
  timeoutMs: 60_000,
  maxAttempts: 3,
  flushMs: 10,
  targetTtlMs: 2_000,
  providerTtlMs: 30_000,
};

/** A map whose entries are loaded on demand, shared while loading, and kept for `ttlMs`. */
function ttlCache<V>(ttlMs: number, load: (key: string) => Promise<V>) {
  const entries = new Map<string, { at: number; value: Promise<V> }>();
  return {
    get(key: string): Promise<V> {
      const hit = entries.get(key);
      if (hit && performance.now() - hit.at < ttlMs) return hit.value;
      const value = load(key);
      entries.set(key, { at: performance.now(), value });
      value.catch(() => entries.delete(key));
      if (entries.size > 10_000) entries.delete(entries.keys().next().value!);
      return value;
    },
    forget: (key: string) => entries.delete(key),
  };
}

function invalid(path: string, message: string): AppError {
  return new AppError('validation', `${path}: ${message}`, { issues: [{ path, message }] });
}

function checkObject(body: unknown, what: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalid('(root)', `a JSON object (${what})`);
  const b = body as Record<string, unknown>;
  if (typeof b.model !== 'string' || b.model.length === 0)
    throw invalid('model', 'a target name, or "target/segment"');
  if (!Array.isArray(b.messages) || b.messages.length === 0)
    throw invalid('messages', 'a non-empty array of messages');
  if (b.stream !== undefined && b.stream !== null && typeof b.stream !== 'boolean')
    throw invalid('stream', 'a boolean');
  return b;
}

/** A provider wire format the gateway speaks on both sides: the door's and the provider's. */
interface Wire {
  api: ProviderApi;
  /** The request, as people name it in messages. */
  what: string;
  /** The fields the gateway reads, checked; everything else goes to the provider as sent. */
  check(body: unknown): { model: string; stream: boolean; user: string | undefined };
  send(
    provider: ProviderRecord,
    body: Record<string, unknown>,
    model: string,
    opts: ExchangeOptions,
    call: ChatCall,
  ): ReturnType<typeof chatCompletions>;
  usage: UsageReader;
}

const OPENAI_WIRE: Wire = {
  api: 'openai',
  what: 'an OpenAI Chat Completions request',
  check(body) {
    const b = checkObject(body, this.what);
    if (b.user !== undefined && typeof b.user !== 'string') throw invalid('user', 'a string');
    return { model: b.model as string, stream: b.stream === true, user: b.user || undefined };
  },
  send: (provider, body, model, opts) => chatCompletions(provider, body as ChatCompletionsBody, model, opts),
  usage: usageOf,
};

const ANTHROPIC_WIRE: Wire = {
  api: 'anthropic',
  what: 'an Anthropic Messages request',
  check(body) {
    const b = checkObject(body, this.what);
    if (typeof b.max_tokens !== 'number' || !Number.isInteger(b.max_tokens) || b.max_tokens < 1)
      throw invalid('max_tokens', 'a positive integer');
    const metadata = b.metadata as { user_id?: unknown } | undefined;
    const user = typeof metadata?.user_id === 'string' ? metadata.user_id : undefined;
    return { model: b.model as string, stream: b.stream === true, user: user || undefined };
  },
  send: (provider, body, model, opts, call) =>
    messages(provider, body as MessagesBody, model, {
      ...opts,
      version: call.anthropicVersion,
      beta: call.anthropicBeta,
    }),
  usage: anthropicUsageOf,
};

/** `target` or `target/segment` of a request's `model`. */
function routeOf(model: string): { target: string; segment: string } {
  const slash = model.indexOf('/');
  const target = slash < 0 ? model : model.slice(0, slash);
  const segment = slash < 0 ? DEFAULT_SEGMENT : model.slice(slash + 1);
  if (!Slug.safeParse(target).success || !Slug.safeParse(segment).success)
    throw new AppError('not_found', `model "${model}" is not a target (a target name, or "target/segment")`, {
      code: 'model_not_found',
    });
  return { target, segment };
}

/** The chosen arm first, then the target's other arms in its order. */
export function fallbackOrder(target: Target, chosen: string, maxAttempts: number): Arm[] {
  const first = target.arms.find((a) => a.id === chosen);
  const rest = target.arms.filter((a) => a.id !== chosen);
  return (first ? [first, ...rest] : rest).slice(0, maxAttempts);
}

function classify(err: unknown): Retryable {
  if (err instanceof Retryable) return err;
  if (err instanceof ProviderTimeout) return new Retryable('timeout', 'timeout', err.message);
  if (err instanceof ProviderUnreachable) return new Retryable('error', 'unreachable', err.message);
  if (err instanceof DestinationRefused) return new Retryable('error', 'redirect_refused', err.message);
  throw err;
}

/** The answer's failure when every attempt failed: the last attempt's kind decides the status. */
function exhausted(attempts: Attempt[], headers: Record<string, string>): UpstreamFailed {
  const last = attempts.at(-1);
  const summary = attempts.map((a) => `${a.arm.id}: ${a.detail}`).join('; ');
  const status = last?.status === 'timeout' ? 504 : last?.status === 'rate_limited' ? 429 : 502;
  return new UpstreamFailed(
    attempts.length > 0 ? `every arm failed (${summary})` : 'the target has no arm to call',
    status,
    { ...headers, ...(status === 429 ? { 'retry-after': '1' } : {}) },
  );
}

/** Where an attempt belongs: the call, the config version it was routed by, and its number. */
interface AttemptContext {
  config: RoutingConfig;
  requestId: string;
  attempt: number;
}

/** How an attempt ended; `at` is its performance.now() start. */
interface Outcome {
  at: number;
  status: RequestStatus;
  errorType?: string;
  ttftMs?: number;
  usage?: Usage;
  cancelled?: boolean;
}

type TelemetryQueue = ReturnType<typeof telemetryQueue>;

/** One event per provider attempt; `at` is its performance.now() start. */
function recordAttempt(
  telemetry: TelemetryQueue,
  call: ChatCall,
  ctx: AttemptContext,
  arm: Arm,
  outcome: Outcome,
): void {
  const latency = performance.now() - outcome.at;
  const event: Record<string, unknown> = {
    type: 'llm.request',
    id: `gw-${ctx.requestId}-${ctx.attempt}`,
    timestamp: new Date(Date.now() - latency).toISOString(),
    target: ctx.config.target,
    segment: ctx.config.segment,
    arm: arm.id,
    config_version: ctx.config.version,
    request_id: ctx.requestId,
    model: arm.model,
    provider: arm.provider,
    latency_ms: latency,
    ...(outcome.ttftMs !== undefined ? { ttft_ms: Math.min(outcome.ttftMs, latency) } : {}),
    input_tokens: outcome.usage?.input_tokens ?? 0,
    output_tokens: outcome.usage?.output_tokens ?? 0,
    status: outcome.status,
    ...(outcome.errorType ? { error_type: outcome.errorType } : {}),
    attributes: {
      source: 'gateway',
      attempt: ctx.attempt,
      ...(outcome.cancelled ? { client_cancelled: true } : {}),
    },
  } satisfies Partial<Record<keyof LlmRequestEvent, unknown>>;
  telemetry.push(call.caller.id, event);
}

/** The provider's stream as it comes, its usage read on the way; a cancel by the client aborts it. */
function relay(
  source: ReadableStream<Uint8Array>,
  abort: (reason?: unknown) => void,
  signal: AbortSignal | undefined,
  record: (outcome: Outcome) => void,
  at: number,
  read: UsageReader,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  const usage = sseUsageScanner(read);
  let ttftMs: number | undefined;
  let done = false;
  const finish = (status: RequestStatus, extra: { errorType?: string; cancelled?: boolean } = {}) => {
    if (done) return;
    done = true;
    const u = usage.usage();
    record({
      at,
      status,
      ...extra,
      ...(ttftMs !== undefined ? { ttftMs } : {}),
      ...(u ? { usage: u } : {}),
    });
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done: ended } = await reader.read();
        if (ended) {
          finish('ok');
          controller.close();
          return;
        }
        ttftMs ??= performance.now() - at;
        usage.push(value);
        controller.enqueue(value);
      } catch (err) {
        if (signal?.aborted) finish('ok', { cancelled: true });
        else finish('error', { errorType: 'stream_interrupted' });
        controller.error(err);
      }
    },
    cancel(reason) {
      finish('ok', { cancelled: true });
      abort(reason);
      return reader.cancel(reason).catch(() => undefined);
    },
  });
}

/** What one attempt at one arm needs. */
interface ArmAttempt {
  wire: Wire;
  provider: ProviderRecord;
  arm: Arm;
  body: Record<string, unknown>;
  stream: boolean;
  call: ChatCall;
  timeoutMs: number;
  /** Time spent waiting on providers, which the overhead header leaves out. */
  clock: { upstreamMs: number };
  record: (outcome: Outcome) => void;
  at: number;
  /** Frees the arm's concurrency slot; called once the answer is complete. */
  release: () => void;
}

/**
 * Calls the arm's provider once. A 5xx, 429, timeout or unreachable provider throws (the caller falls
 * back); any other answer is the answer, its event recorded (a stream's when it ends).
 */
async function attemptArm(a: ArmAttempt, headersFor: () => Record<string, string>): Promise<GatewayAnswer> {
  const { body, call, record, at } = a;
  const sentAt = performance.now();
  const opts = { timeoutMs: a.timeoutMs, ...(call.signal ? { signal: call.signal } : {}) };
  const { response, abort } = await a.wire.send(a.provider, body, a.arm.model, opts, call);
  a.clock.upstreamMs += performance.now() - sentAt;
  if (response.status === 429 || response.status >= 500) {
    await response.body?.cancel().catch(() => undefined);
    throw new Retryable(
      response.status === 429 ? 'rate_limited' : 'error',
      `http_${response.status}`,
      `provider answered ${response.status}`,
    );
  }
  const contentType = { 'content-type': response.headers.get('content-type') ?? 'application/json' };
  if (a.stream && response.ok && response.body) {
    const stream = relay(
      response.body,
      abort,
      call.signal,
      (o) => {
        a.release();
        record(o);
      },
      at,
      a.wire.usage,
    );
    return { status: response.status, headers: { ...contentType, ...headersFor() }, body: stream };
  }
  const readAt = performance.now();
  const text = await readText(response, a.timeoutMs, abort);
  a.clock.upstreamMs += performance.now() - readAt;
  let usage: Usage | undefined;
  try {
    usage = a.wire.usage(JSON.parse(text), undefined);
  } catch {
    usage = undefined;
  }
  a.release();
  record({
    at,
    status: response.ok ? 'ok' : 'error',
    ...(response.ok ? {} : { errorType: `http_${response.status}` }),
    ...(usage ? { usage } : {}),
  });
  return { status: response.status, headers: { ...contentType, ...headersFor() }, body: text };
}

/**
 * The serving decisions of an arm, enforced where its traffic passes: `rate_limit_rps` through GCRA
 * (shared by every API process through Redis when there is one; a burst of one second's worth) and
 * `max_concurrency` as calls in flight in this process. The config version's `serving` overrides the
 * arm's own values, as the rollout of a serving decision writes them.
 */
function servingGates(deps: Pick<GatewayDeps, 'redis' | 'logger'>) {
  const gcra: Gcra = deps.redis
    ? createRedisGcra(deps.redis, { logger: deps.logger, keyPrefix: 'llmopt:gateway:rps:' })
    : createMemoryGcra();
  const inFlight = new Map<string, number>();
  type Refused = { retryAfterSeconds: number; reason: string; detail: string };
  return {
    async enter(config: RoutingConfig, arm: Arm): Promise<{ release: () => void } | Refused> {
      const serving = { ...arm.serving, ...config.serving?.[arm.id] };
      const key = `${config.target}/${arm.id}`;
      const name = `arm "${arm.id}" of ${config.target}`;
      if (serving.max_concurrency !== undefined && (inFlight.get(key) ?? 0) >= serving.max_concurrency)
        return {
          retryAfterSeconds: 1,
          reason: 'arm_concurrency',
          detail: `${name} serves at most ${serving.max_concurrency} calls at once`,
        };
      if (serving.rate_limit_rps !== undefined) {
        const intervalMs = 1000 / serving.rate_limit_rps;
        // A burst of one second's worth, and at least one call.
        const r = await gcra.take(key, { intervalMs, toleranceMs: Math.max(intervalMs, 1000) });
        if (!r.allowed)
          return {
            retryAfterSeconds: Math.max(1, Math.ceil(r.retryMs / 1000)),
            reason: 'arm_rate_limit',
            detail: `${name} serves at most ${serving.rate_limit_rps} calls a second`,
          };
      }
      if (serving.max_concurrency === undefined) return { release: () => undefined };
      inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
      let released = false;
      return {
        release: () => {
          if (released) return;
          released = true;
          const n = (inFlight.get(key) ?? 1) - 1;
          if (n <= 0) inFlight.delete(key);
          else inFlight.set(key, n);
        },
      };
    },
  };
}

export type GatewayService = ReturnType<typeof createGatewayService>;

export function createGatewayService(deps: GatewayDeps, options: GatewayOptions = {}) {
  const opts = { ...DEFAULTS, ...options };
  const { repos, logger } = deps;
  const targets = ttlCache<Target | null>(opts.targetTtlMs, (name) => repos.targets.get(name));
  const providers = ttlCache<ProviderRecord | undefined>(opts.providerTtlMs, (name) =>
    repos.providers.get(name),
  );
  deps.bus?.subscribe(PROVIDER_NS, (m) => providers.forget(m.key));
  const telemetry = telemetryQueue(deps, opts.flushMs);
  const calls = gatewayMetrics(deps.metrics.registry).requests;
  const gates = servingGates(deps);

  const configOf = (target: string, segment: string): Promise<RoutingConfig | null> =>
    deps.caches.routingConfigs
      ? deps.caches.routingConfigs.get(target, segment)
      : repos.targets.currentConfig(target, segment);

  async function route(model: string) {
    const { target, segment } = routeOf(model);
    const [config, catalog] = await Promise.all([configOf(target, segment), targets.get(target)]);
    if (!config || !catalog)
      throw new AppError('not_found', `model "${model}" names no target and segment with a routing config`, {
        code: 'model_not_found',
      });
    return { config, catalog };
  }

  async function invoke(wire: Wire, call: ChatCall): Promise<GatewayAnswer> {
    const checked = wire.check(call.body);
    const body = call.body as Record<string, unknown>;
    const { config, catalog } = await route(checked.model);
    const key = checked.user || call.user || call.caller.id;
    const chosen = assignArm(config.weights, key);
    const requestId = randomUUID();
    const timeoutMs = Math.min(call.timeoutMs ?? opts.timeoutMs, opts.timeoutMs);
    const attempts: Attempt[] = [];
    const clock = { upstreamMs: 0 };
    const headersFor = (arm: Arm | undefined): Record<string, string> => ({
      'x-llmopt-request-id': requestId,
      'x-llmopt-config-version': String(config.version),
      ...(arm ? { 'x-llmopt-arm': arm.id } : {}),
      'x-llmopt-overhead-ms': (performance.now() - call.arrivedAt - clock.upstreamMs).toFixed(3),
    });
    for (const arm of fallbackOrder(catalog, chosen, opts.maxAttempts)) {
      const ctx = { config, requestId, attempt: attempts.length + 1 };
      const at = performance.now();
      const record = (o: Outcome) => {
        calls.inc({ arm: arm.id, status: o.status });
        recordAttempt(telemetry, call, ctx, arm, o);
      };
      let release: (() => void) | undefined;
      try {
        const provider = await providerFor(wire, arm, config, attempts.length === 0);
        const admitted = await gates.enter(config, arm);
        if ('retryAfterSeconds' in admitted) {
          if (attempts.length > 0) throw new Retryable('rate_limited', admitted.reason, admitted.detail);
          record({ at, status: 'rate_limited', errorType: admitted.reason });
          throw new AppError('rate_limited', admitted.detail, {
            retryAfterSeconds: admitted.retryAfterSeconds,
            code: admitted.reason,
          });
        }
        release = admitted.release;
        const answer = await attemptArm(
          { wire, provider, arm, body, stream: checked.stream, call, timeoutMs, clock, record, at, release },
          () => headersFor(arm),
        );
        release = undefined; // the answer (a stream) releases when it ends
        return answer;
      } catch (err) {
        release?.();
        if (err instanceof AppError) throw err;
        if (call.signal?.aborted) {
          record({ at, status: 'ok', cancelled: true });
          throw new AppError('bad_request', 'the client closed the request');
        }
        const failure = classify(err);
        record({ at, status: failure.status, errorType: failure.errorType });
        attempts.push({ arm, status: failure.status, errorType: failure.errorType, detail: failure.message });
        logger.debug({ arm: arm.id, target: config.target, err: failure.message }, 'gateway attempt failed');
      }
    }
    throw exhausted(attempts, headersFor(undefined));
  }

  /** The arm's provider, when the gateway can speak to it in this format. */
  async function providerFor(
    wire: Wire,
    arm: Arm,
    config: RoutingConfig,
    first: boolean,
  ): Promise<ProviderRecord> {
    const provider = await providers.get(arm.provider);
    if (!provider)
      throw new Retryable('error', 'provider_not_configured', `provider "${arm.provider}" is not configured`);
    if (provider.api === wire.api) return provider;
    if (!first)
      throw new Retryable('error', 'not_translatable', `provider "${arm.provider}" speaks ${provider.api}`);
    throw new AppError(
      'bad_request',
      `arm "${arm.id}" of ${config.target}/${config.segment} calls provider "${arm.provider}", which speaks the ${provider.api} API; translating ${wire.what} to it is not supported`,
      { code: 'not_translatable' },
    );
  }

  /** OpenAI's model list: every target (its default segment) and every `target/segment`. */
  async function models() {
    const data: { id: string; object: 'model'; created: number; owned_by: string }[] = [];
    for (const m of await repos.providers.routableModels()) {
      const created = Math.floor(Date.parse(m.created_at) / 1000);
      const model = (id: string) => ({
        id,
        object: 'model' as const,
        created,
        owned_by: 'llm-auto-optimizer',
      });
      if (m.segment === DEFAULT_SEGMENT) data.push(model(m.target));
      data.push(model(`${m.target}/${m.segment}`));
    }
    return { object: 'list' as const, data };
  }

  return {
    /** POST /gateway/openai/v1/chat/completions */
    chat: (call: ChatCall) => invoke(OPENAI_WIRE, call),
    /** POST /gateway/anthropic/v1/messages */
    messages: (call: ChatCall) => invoke(ANTHROPIC_WIRE, call),
    models,
    /** Hands every queued event to the front door now (shutdown, tests). */
    flush: () => telemetry.flush(),
  };
}

/** A non-streamed answer read whole, within the attempt's deadline. */
async function readText(
  response: Response,
  timeoutMs: number,
  abort: (reason?: unknown) => void,
): Promise<string> {
  const timer = setTimeout(
    () => abort(new ProviderTimeout(`answer not complete within ${timeoutMs} ms`)),
    timeoutMs,
  );
  try {
    return await response.text();
  } catch (err) {
    throw err instanceof ProviderTimeout ? err : new ProviderUnreachable((err as Error).message);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Events queued per source (the caller, whose ingest allowance they spend) and handed to the front door
 * in groups: the answer never waits for them.
 */
function telemetryQueue(deps: Pick<GatewayDeps, 'ingest' | 'logger' | 'metrics'>, flushMs: number) {
  const dropped = registeredDeferredCounter(deps.metrics.registry, {
    name: 'llmopt_gateway_events_dropped_total',
    help: 'llm.request events of gateway calls that the ingest front door did not accept, by reason',
    labelNames: ['reason'],
  }).counter;
  const queued = new Map<string, Record<string, unknown>[]>();
  let timer: NodeJS.Timeout | undefined;
  const inFlight = new Set<Promise<void>>();

  async function send(source: string, events: Record<string, unknown>[]): Promise<void> {
    if (!deps.ingest) {
      dropped.inc({ reason: 'no_ingest' }, events.length);
      return;
    }
    const max = deps.ingest.limits.maxBatchEvents;
    for (let i = 0; i < events.length; i += max) {
      const batch = events.slice(i, i + max);
      try {
        const r = await ingestItems(deps.ingest, source, batch);
        if (r.rejected.length > 0) {
          dropped.inc({ reason: 'invalid' }, r.rejected.length);
          deps.logger.warn(
            { rejected: r.rejected.slice(0, 3) },
            'gateway telemetry refused by the front door',
          );
        }
      } catch (err) {
        dropped.inc({ reason: err instanceof AppError ? err.type : 'error' }, batch.length);
        deps.logger.warn({ err: String(err), events: batch.length }, 'gateway telemetry not accepted');
      }
    }
  }

  function flush(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = undefined;
    for (const [source, events] of queued) {
      const p = send(source, events).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    queued.clear();
    return Promise.all(inFlight).then(() => undefined);
  }

  return {
    push(source: string, event: Record<string, unknown>): void {
      const list = queued.get(source);
      if (list) list.push(event);
      else queued.set(source, [event]);
      if (!timer) {
        timer = setTimeout(() => void flush(), flushMs);
        timer.unref();
      }
    },
    flush,
  };
}
