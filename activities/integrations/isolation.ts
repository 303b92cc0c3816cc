/**
 * Isolation of each integration: a rate limit (rate-limiter-flexible) and a circuit breaker (opossum)
 * per integration and worker, so a slow or failing Slack spends none of GitHub's capacity and a dead
 * service is left alone instead of hammered. Both turn into Temporal retries with an explicit next
 * delay, never into sleeping inside an activity.
 */
import { ApplicationFailure } from '@temporalio/activity';
import CircuitBreaker from 'opossum';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import {
  DestinationRefused,
  guardedRequest,
  OutboundNetworkError,
  type DestinationPolicy,
  type OutboundRequest,
} from '../../platform/outbound';
import { retryAfterMs } from './webhooks';
import { FAILURE_TYPES } from '../../domain/errors';

/** An integration answered with a non-2xx status. */
export class IntegrationHttpError extends Error {
  override name = 'IntegrationHttpError';
  constructor(
    readonly integration: string,
    readonly status: number,
    readonly body: string,
    readonly retryAfterMs?: number,
  ) {
    super(`${integration} answered ${status}: ${body.slice(0, 300)}`);
  }
  get retryable(): boolean {
    return this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

export interface IsolationConfig {
  ratePerSecond: number;
  errorPercent: number;
  resetMs: number;
  timeoutMs: number;
}

export interface JsonResponse<T = unknown> {
  status: number;
  json: T;
  text: string;
}

export function createIsolation(config: IsolationConfig, destinations: DestinationPolicy) {
  const breakers = new Map<string, CircuitBreaker<[() => Promise<unknown>], unknown>>();
  const limiters = new Map<string, RateLimiterMemory>();

  const breakerFor = (kind: string) => {
    let b = breakers.get(kind);
    if (!b) {
      b = new CircuitBreaker((fn: () => Promise<unknown>) => fn(), {
        timeout: false,
        errorThresholdPercentage: config.errorPercent,
        resetTimeout: config.resetMs,
        volumeThreshold: 5,
        // A 4xx is our request's fault, not the service's health: it must not open the circuit.
        errorFilter: (err: unknown) => err instanceof IntegrationHttpError && !err.retryable,
      });
      breakers.set(kind, b);
    }
    return b;
  };
  const limiterFor = (kind: string) => {
    let l = limiters.get(kind);
    if (!l) {
      l = new RateLimiterMemory({ points: config.ratePerSecond, duration: 1 });
      limiters.set(kind, l);
    }
    return l;
  };

  /** Runs one call of an integration under its limit and breaker; maps failures onto retry decisions. */
  async function run<T>(kind: string, fn: () => Promise<T>): Promise<T> {
    try {
      await limiterFor(kind).consume(kind);
    } catch (res) {
      const wait = res instanceof RateLimiterRes ? res.msBeforeNext : 1000;
      throw ApplicationFailure.create({
        message: `${kind} rate limit reached`,
        type: 'RateLimited',
        nextRetryDelay: Math.max(wait, 10),
      });
    }
    const breaker = breakerFor(kind);
    try {
      return (await breaker.fire(fn)) as T;
    } catch (err) {
      if (
        breaker.opened &&
        !(err instanceof IntegrationHttpError) &&
        !(err instanceof OutboundNetworkError)
      ) {
        throw ApplicationFailure.create({
          message: `${kind} circuit is open`,
          type: 'CircuitOpen',
          nextRetryDelay: config.resetMs,
        });
      }
      if (err instanceof DestinationRefused)
        throw ApplicationFailure.nonRetryable(err.message, FAILURE_TYPES.DeliveryRejected);
      if (err instanceof IntegrationHttpError) {
        if (!err.retryable)
          throw ApplicationFailure.nonRetryable(err.message, FAILURE_TYPES.DeliveryRejected);
        throw ApplicationFailure.create({
          message: err.message,
          type: 'IntegrationUnavailable',
          ...(err.retryAfterMs !== undefined ? { nextRetryDelay: Math.max(err.retryAfterMs, 10) } : {}),
        });
      }
      throw err;
    }
  }

  /** A JSON exchange with an integration's API; non-2xx is an IntegrationHttpError. */
  async function json<T = unknown>(
    kind: string,
    req: Omit<OutboundRequest, 'timeoutMs'> & { json?: unknown },
  ): Promise<JsonResponse<T>> {
    const { json: payload, ...rest } = req;
    const res = await guardedRequest(
      {
        ...rest,
        timeoutMs: config.timeoutMs,
        headers: {
          accept: 'application/json',
          ...(payload !== undefined ? { 'content-type': 'application/json; charset=utf-8' } : {}),
          ...rest.headers,
        },
        ...(payload !== undefined ? { body: JSON.stringify(payload) } : {}),
      },
      destinations,
    );
    if (res.status < 200 || res.status >= 300) {
      // GitHub signals an exhausted primary rate limit as 403 with x-ratelimit-remaining: 0.
      if (res.status === 403 && res.headers['x-ratelimit-remaining'] === '0') {
        const reset = Number(res.headers['x-ratelimit-reset']) * 1000;
        throw new IntegrationHttpError(
          kind,
          429,
          res.body,
          Number.isFinite(reset) ? Math.max(0, reset - Date.now()) : undefined,
        );
      }
      throw new IntegrationHttpError(kind, res.status, res.body, retryAfterMs(res.headers['retry-after']));
    }
    let parsed: unknown = undefined;
    try {
      parsed = res.body ? JSON.parse(res.body) : undefined;
    } catch {
      // Slack's incoming webhooks answer plain "ok"
    }
    return { status: res.status, json: parsed as T, text: res.body };
  }

  const breakerState = (kind: string): 'open' | 'half_open' | 'closed' => {
    const b = breakers.get(kind);
    return b?.halfOpen ? 'half_open' : b?.opened ? 'open' : 'closed';
  };
  return {
    run,
    json,
    breakerState,
    /** The state of every breaker this worker has used, for the metrics gauge. */
    breakerStates: () => [...breakers.keys()].map((kind) => ({ kind, state: breakerState(kind) })),
  };
}
export type Isolation = ReturnType<typeof createIsolation>;
