/**
 * The application's handle on the optimizer: which arm serves this request, and what happened when it
 * did. Nothing here throws into the application or waits on the network longer than one bounded config
 * fetch (the first read of a target); every failure goes to `onError`.
 */
import { ConfigStore, type RoutingConfig } from './configs.js';
import { OptimizerError } from './errors.js';
import type { HttpOptions } from './http.js';
import { assignArm, bucketOf } from './routing.js';
import { TelemetryReporter, type TelemetryEvent, type TelemetryStats } from './telemetry.js';

export const DEFAULT_SEGMENT = 'default';
/** The arm named in telemetry when no config was known and no fallback arm was given. */
export const UNASSIGNED_ARM = 'unassigned';

export interface OptimizerOptions {
  /** The optimizer API, e.g. "http://optimizer.internal:8080". */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /** Arm to use while no routing config is known (first call, API down). */
  fallbackArm?: string;
  /** How often known routing configs are re-checked (If-None-Match). Default 15 s. */
  refreshIntervalMs?: number;
  /** Per-request timeout of every HTTP call. Default 2 s. */
  requestTimeoutMs?: number;
  /** Telemetry flush period. Default 1 s. */
  flushIntervalMs?: number;
  /** Events per POST. Default 500. */
  maxBatchSize?: number;
  /** Events held while the server is unreachable; the oldest are dropped beyond. Default 10,000. */
  maxBufferSize?: number;
  /** Retries of a failed batch before it is dropped. Default 5. */
  maxRetries?: number;
  /** Backoff base and cap, in ms. Defaults 200 and 10,000. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Receives every failure (config reads, telemetry, drops). Default: ignore. */
  onError?: (err: OptimizerError) => void;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
}

export interface Assignment {
  target: string;
  segment: string;
  /** The arm to serve: from the routing config, else the fallback arm, else "unassigned". */
  arm: string;
  /** The config version that chose the arm; undefined when the fallback served. */
  configVersion?: number;
  /** hash(key) mod 10,000: the sticky position of the key. */
  bucket: number;
}

/** What a tracked call learned about itself; the SDK fills what it can from the result. */
export interface CallUsage {
  model?: string;
  provider?: string;
  input_tokens?: number;
  output_tokens?: number;
  ttft_ms?: number;
  cost_usd?: number;
  quality_score?: number;
  cache_hit?: boolean;
  request_id?: string;
  attributes?: Record<string, string | number | boolean>;
}

export interface TrackContext extends Assignment {
  /** Add or override what the event records (tokens, model, ttft...). */
  record(usage: CallUsage): void;
}

export interface TrackOptions extends CallUsage {
  fallbackArm?: string;
}

export class Optimizer {
  private readonly configs: ConfigStore;
  private readonly telemetry: TelemetryReporter;
  private readonly fallbackArm: string | undefined;
  private readonly onError: (err: OptimizerError) => void;

  constructor(opts: OptimizerOptions) {
    const userOnError = opts.onError;
    this.onError = (err) => {
      try {
        userOnError?.(err);
      } catch {
        // A throwing error callback must not turn into an exception in the application's call.
      }
    };
    const http: HttpOptions = {
      baseUrl: opts.baseUrl,
      headers: {
        accept: 'application/json',
        ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}),
        ...opts.headers,
      },
      timeoutMs: opts.requestTimeoutMs ?? 2_000,
      fetch: opts.fetch ?? globalThis.fetch.bind(globalThis),
    };
    this.fallbackArm = opts.fallbackArm;
    this.configs = new ConfigStore(http, opts.refreshIntervalMs ?? 15_000, this.onError);
    this.telemetry = new TelemetryReporter(
      http,
      {
        flushIntervalMs: opts.flushIntervalMs ?? 1_000,
        maxBatchSize: opts.maxBatchSize ?? 500,
        maxBufferSize: opts.maxBufferSize ?? 10_000,
        maxRetries: opts.maxRetries ?? 5,
        retryBaseMs: opts.retryBaseMs ?? 200,
        retryMaxMs: opts.retryMaxMs ?? 10_000,
      },
      this.onError,
    );
  }

  /** The current routing config of a target's segment, or undefined while none could be read. */
  async config(target: string, segment = DEFAULT_SEGMENT): Promise<RoutingConfig | undefined> {
    try {
      return await this.configs.get(target, segment);
    } catch (err) {
      this.onError(
        new OptimizerError('config', `config of ${target}/${segment}: ${String(err)}`, {
          cause: err,
          target,
          segment,
        }),
      );
      return undefined;
    }
  }

  /** The arm for an assignment key (a user or session id): the same key keeps the same arm. */
  async assign(
    target: string,
    segment: string,
    key: string,
    opts: { fallbackArm?: string } = {},
  ): Promise<Assignment> {
    const config = await this.config(target, segment);
    return this.assignWith(config, target, segment, key, opts.fallbackArm);
  }

  /** Synchronous variant over the cached config only (no I/O); the fallback serves until one is cached. */
  assignCached(
    target: string,
    segment: string,
    key: string,
    opts: { fallbackArm?: string } = {},
  ): Assignment {
    return this.assignWith(this.configs.peek(target, segment), target, segment, key, opts.fallbackArm);
  }

  /**
   * Runs the application's LLM call on the assigned arm and records an `llm.request` event with its
   * latency, status and tokens. The call's own result or error passes through unchanged; the SDK adds
   * no failure of its own.
   */
  async track<T>(
    target: string,
    segment: string,
    key: string,
    fn: (arm: string, ctx: TrackContext) => Promise<T>,
    opts: TrackOptions = {},
  ): Promise<T> {
    const { fallbackArm, ...given } = opts;
    const assignment = await this.assign(
      target,
      segment,
      key,
      fallbackArm !== undefined ? { fallbackArm } : {},
    );
    let usage: CallUsage = { ...given };
    const ctx: TrackContext = { ...assignment, record: (u) => (usage = { ...usage, ...u }) };
    const started = performance.now();
    const timestamp = new Date().toISOString();
    try {
      const result = await fn(assignment.arm, ctx);
      this.safely(() =>
        this.recordCall(assignment, timestamp, performance.now() - started, 'ok', undefined, {
          ...usageFrom(result),
          ...usage,
        }),
      );
      return result;
    } catch (err) {
      this.safely(() =>
        this.recordCall(
          assignment,
          timestamp,
          performance.now() - started,
          statusOf(err),
          errorTypeOf(err),
          usage,
        ),
      );
      throw err;
    }
  }

  /** Queue any telemetry event (user.feedback, eval.result...); `id` and `timestamp` are filled when absent. */
  report(event: Omit<TelemetryEvent, 'id' | 'timestamp'> & { id?: string; timestamp?: string }): void {
    this.safely(() =>
      this.telemetry.enqueue({
        ...event,
        id: event.id ?? newId(),
        timestamp: event.timestamp ?? new Date().toISOString(),
      } as TelemetryEvent),
    );
  }

  /** Counts of sent, rejected, dropped and buffered events. */
  stats(): TelemetryStats & { configs: { fetched: number; notModified: number; failed: number } } {
    return { ...this.telemetry.stats, configs: { ...this.configs.counts } };
  }

  /** Re-check every known config now (otherwise it happens every refreshIntervalMs). */
  refresh(): Promise<void> {
    return this.configs.refreshAll();
  }

  /** Send what is buffered now. */
  flush(): Promise<void> {
    return this.telemetry.flush().catch(() => undefined);
  }

  /** Stop background work after a last flush (bounded by `deadlineMs`); call on shutdown. */
  async close(deadlineMs = 5_000): Promise<void> {
    this.configs.stop();
    await this.telemetry.close(deadlineMs).catch(() => undefined);
  }

  private assignWith(
    config: RoutingConfig | undefined,
    target: string,
    segment: string,
    key: string,
    fallbackArm?: string,
  ): Assignment {
    let bucket = 0;
    try {
      bucket = bucketOf(String(key));
      const arm = config ? assignArm(config.weights, String(key)) : undefined;
      if (arm !== undefined && config) return { target, segment, arm, configVersion: config.version, bucket };
    } catch (err) {
      this.onError(
        new OptimizerError('config', `assignment on ${target}/${segment} failed: ${String(err)}`, {
          cause: err,
          target,
          segment,
        }),
      );
    }
    return { target, segment, arm: fallbackArm ?? this.fallbackArm ?? UNASSIGNED_ARM, bucket };
  }

  private recordCall(
    a: Assignment,
    timestamp: string,
    latencyMs: number,
    status: string,
    errorType: string | undefined,
    usage: CallUsage,
  ) {
    const { model, provider, request_id, input_tokens, output_tokens, ttft_ms, ...rest } = usage;
    const latency = Math.max(0, Math.round(latencyMs * 1000) / 1000);
    this.telemetry.enqueue({
      type: 'llm.request',
      id: newId(),
      timestamp,
      target: a.target,
      segment: a.segment,
      arm: a.arm,
      ...(a.configVersion !== undefined ? { config_version: a.configVersion } : {}),
      request_id: request_id ?? newId(),
      model: model || a.arm,
      provider: provider || 'unknown',
      latency_ms: latency,
      ...(ttft_ms !== undefined ? { ttft_ms: Math.min(ttft_ms, latency) } : {}),
      input_tokens: input_tokens ?? 0,
      output_tokens: output_tokens ?? 0,
      status,
      ...(errorType ? { error_type: errorType } : {}),
      ...stripUndefined(rest),
    });
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.onError(
        new OptimizerError('telemetry', `could not record telemetry: ${String(err)}`, { cause: err }),
      );
    }
  }
}

export function createOptimizer(opts: OptimizerOptions): Optimizer {
  return new Optimizer(opts);
}

function newId(): string {
  return globalThis.crypto.randomUUID();
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Tokens and model from the common response shapes (OpenAI `usage.prompt_tokens`, Anthropic `usage.input_tokens`). */
export function usageFrom(result: unknown): CallUsage {
  if (typeof result !== 'object' || result === null) return {};
  const r = result as { model?: unknown; id?: unknown; usage?: Record<string, unknown> };
  const u = r.usage ?? {};
  const num = (v: unknown) =>
    typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.round(v) : undefined;
  const out: CallUsage = {};
  const input = num(u.input_tokens) ?? num(u.prompt_tokens);
  const output = num(u.output_tokens) ?? num(u.completion_tokens);
  if (input !== undefined) out.input_tokens = input;
  if (output !== undefined) out.output_tokens = output;
  if (typeof r.model === 'string' && r.model) out.model = r.model.slice(0, 200);
  if (typeof r.id === 'string' && r.id) out.request_id = r.id.slice(0, 128);
  return out;
}

function statusOf(err: unknown): 'error' | 'timeout' | 'rate_limited' {
  const e = err as { name?: unknown; status?: unknown; code?: unknown } | null;
  if (e && (e.status === 429 || e.code === 'rate_limit_exceeded')) return 'rate_limited';
  if (e && (e.name === 'TimeoutError' || e.name === 'AbortError' || e.code === 'ETIMEDOUT')) return 'timeout';
  return 'error';
}

function errorTypeOf(err: unknown): string {
  const e = err as { name?: unknown; status?: unknown } | null;
  const name = e && typeof e.name === 'string' && e.name ? e.name : 'Error';
  return (typeof e?.status === 'number' ? `${name}:${e.status}` : name).slice(0, 100);
}
