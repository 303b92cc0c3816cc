/**
 * Webhook delivery activities: plan who gets an event, make one signed attempt, dead-letter. Retrying
 * is Temporal's job (the notify workflow's retry policy); an attempt only decides whether its failure
 * is worth another try and how long to wait (exponential with jitter, or the subscriber's Retry-After).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { DomainEvent } from '../../domain/domain-events';
import type { WebhooksRepo } from '../../adapters/db/repos/webhooks';
import type { Logger } from '../../platform/logger';
import {
  DestinationRefused,
  guardedRequest,
  OutboundNetworkError,
  type DestinationPolicy,
  type OutboundResponse,
} from '../../platform/outbound';
import type { DeliverInput, DeliveryOutcome, FirstTryOutcome } from '../../workflows/contracts';
import { statusClass, type AttemptOutcome, type IntegrationMetrics } from './metrics';
import {
  ATTEMPT_HEADER,
  DELIVERY_ID_HEADER,
  EVENT_ID_HEADER,
  EVENT_TYPE_HEADER,
  SIGNATURE_HEADER,
  signatureHeader,
} from './signature';
import { FAILURE_TYPES } from '../../domain/errors';

export interface WebhookDeliveryConfig {
  timeoutMs: number;
  maxRedirects: number;
  responseLogBytes: number;
  retryInitialMs: number;
  retryMaxMs: number;
  retryAfterMaxMs: number;
}

export interface WebhookActivityDeps {
  webhooks: WebhooksRepo;
  logger: Logger;
  destinations: DestinationPolicy;
  config: WebhookDeliveryConfig;
  /** Clock and randomness are injectable so tests can pin the jitter. */
  random?: () => number;
  metrics?: IntegrationMetrics;
}

export type { DeliverInput, FirstTryOutcome };

export const USER_AGENT = 'llm-auto-optimizer-webhooks/1';

/** Exponential backoff with "equal jitter": half the step is fixed, half random, so retries spread out. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, random: () => number): number {
  const step = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(step / 2 + random() * (step / 2));
}

/** Retry-After as seconds or an HTTP date, in ms from now; undefined when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const RETRYABLE_STATUS = (s: number) => s === 408 || s === 429 || s >= 500;

/**
 * Numbers and logs one attempt, sends it signed with every live secret of the subscription, and logs
 * what came back: an answer, or the failure that stood in for one.
 */
async function sendAttempt(
  deps: WebhookActivityDeps,
  ctx: Context,
  deliveryId: string,
  target: { url: string; secrets: string[] },
  event: DomainEvent,
): Promise<{ res?: OutboundResponse; failure?: Error; attempt: number; startedAt: string }> {
  const body = JSON.stringify(event);
  const startedAt = new Date().toISOString();
  // Numbered and logged before sending, so an attempt cut short by a dying worker is in the log too.
  const attempt = await deps.webhooks.beginAttempt(deliveryId, startedAt, target.secrets.length);
  const timestamp = Math.floor(Date.now() / 1000);
  const headers = {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    [SIGNATURE_HEADER]: signatureHeader(body, timestamp, target.secrets),
    [EVENT_ID_HEADER]: event.id,
    [EVENT_TYPE_HEADER]: event.type,
    [DELIVERY_ID_HEADER]: deliveryId,
    [ATTEMPT_HEADER]: String(attempt),
  };
  // A local first try has no heartbeat: the workflow task's own timeout covers a dying worker.
  const beat = setInterval(() => (ctx.info.isLocal ? undefined : ctx.heartbeat()), 1_000);
  let res: OutboundResponse | undefined;
  let failure: Error | undefined;
  try {
    res = await guardedRequest(
      {
        method: 'POST',
        url: target.url,
        headers,
        body,
        timeoutMs: deps.config.timeoutMs,
        maxRedirects: deps.config.maxRedirects,
        maxResponseBytes: deps.config.responseLogBytes,
      },
      deps.destinations,
    );
  } catch (err) {
    failure = err instanceof Error ? err : new Error(String(err));
  } finally {
    clearInterval(beat);
  }
  await deps.webhooks.recordAttempt(deliveryId, {
    attempt,
    started_at: startedAt,
    status_code: res?.status ?? null,
    latency_ms: res?.latencyMs ?? (failure instanceof OutboundNetworkError ? failure.latencyMs : 0),
    error: failure ? failure.message : null,
    response_body: res ? res.body.slice(0, deps.config.responseLogBytes) : null,
    signatures: target.secrets.length,
  });
  return { res, failure, attempt, startedAt };
}

export function createWebhookActivities(deps: WebhookActivityDeps) {
  const random = deps.random ?? Math.random;
  const { config } = deps;

  const retryLater = (message: string, attempt: number, retryAfter?: number): ApplicationFailure =>
    ApplicationFailure.create({
      message,
      type: 'DeliveryFailed',
      nonRetryable: false,
      nextRetryDelay:
        retryAfter !== undefined
          ? Math.min(config.retryAfterMaxMs, Math.max(retryAfter, 1))
          : backoffMs(attempt, config.retryInitialMs, config.retryMaxMs, random),
    });

  /**
   * One signed attempt of one delivery. Succeeds on 2xx; retryable `DeliveryFailed` on network errors,
   * 408, 429 and 5xx (with a computed next delay); non-retryable `DeliveryRejected` on other answers,
   * a refused destination, or 410 Gone (which also disables the subscription). Heartbeats while
   * waiting so a dead worker's attempt is retried elsewhere within the heartbeat timeout.
   */
  async function deliverWebhook(input: DeliverInput): Promise<Omit<DeliveryOutcome, 'id'>> {
    const ctx = Context.current();
    // The try number drives the backoff; a local first try came before this activity's attempts.
    const tryNumber = ctx.info.attempt + (input.attemptOffset ?? 0);
    const delivery = await deps.webhooks.getDelivery(input.deliveryId);
    if (!delivery)
      throw ApplicationFailure.nonRetryable(
        `delivery ${input.deliveryId} does not exist`,
        FAILURE_TYPES.InvalidInput,
      );
    if (delivery.status !== 'pending') {
      deps.metrics?.attempts.inc({ outcome: 'skipped', status_class: 'none' });
      return {
        status: delivery.status === 'succeeded' ? 'succeeded' : 'skipped',
        reason: `already ${delivery.status}`,
      };
    }

    // Read at attempt time, so a rotation or deactivation made between retries applies to the next try.
    const target = await deps.webhooks.deliveryTarget(delivery.subscription_id);
    if (!target?.active) {
      throw ApplicationFailure.nonRetryable(
        `subscription ${delivery.subscription_id} is ${target ? 'inactive' : 'deleted'}`,
        FAILURE_TYPES.DeliveryRejected,
      );
    }
    const event = await deps.webhooks.event(delivery.event_id);
    if (!event)
      throw ApplicationFailure.nonRetryable(
        `event ${delivery.event_id} is not in the outbox`,
        FAILURE_TYPES.InvalidInput,
      );

    const { res, failure, attempt, startedAt } = await sendAttempt(deps, ctx, delivery.id, target, event);
    const log = { delivery: delivery.id, subscription: delivery.subscription_id, event: event.id, attempt };
    const cls = statusClass(res?.status ?? null, failure instanceof DestinationRefused);
    deps.metrics?.attemptSeconds.observe(
      { status_class: cls },
      (res?.latencyMs ?? (failure instanceof OutboundNetworkError ? failure.latencyMs : 0)) / 1000,
    );
    const status = res?.status;
    const outcome: AttemptOutcome =
      status !== undefined && status >= 200 && status < 300
        ? 'succeeded'
        : failure instanceof DestinationRefused || (status !== undefined && !RETRYABLE_STATUS(status))
          ? 'rejected'
          : 'retry';
    deps.metrics?.attempts.inc({ outcome, status_class: cls });

    if (failure) {
      if (failure instanceof DestinationRefused) {
        deps.logger.warn({ ...log, reason: failure.message }, 'webhook destination refused');
        throw ApplicationFailure.nonRetryable(failure.message, FAILURE_TYPES.DeliveryRejected);
      }
      deps.logger.info({ ...log, error: failure.message }, 'webhook attempt failed; will retry');
      throw retryLater(`network error: ${failure.message}`, tryNumber);
    }
    if (status === undefined) throw new Error('unreachable: an attempt without failure has an answer');
    if (status >= 200 && status < 300) {
      await deps.webhooks.markSucceeded(delivery.id);
      deps.logger.debug({ ...log, status }, 'webhook delivered');
      return { status: 'succeeded' };
    }
    if (status === 410) {
      await deps.webhooks.disable(
        delivery.subscription_id,
        `the subscriber answered 410 Gone at ${startedAt}`,
      );
      deps.logger.warn(log, 'webhook subscriber is gone; subscription disabled');
      throw ApplicationFailure.nonRetryable(
        'subscriber answered 410 Gone; subscription disabled',
        FAILURE_TYPES.DeliveryRejected,
      );
    }
    if (RETRYABLE_STATUS(status)) {
      deps.logger.info({ ...log, status }, 'webhook attempt failed; will retry');
      throw retryLater(
        `subscriber answered ${status}`,
        tryNumber,
        status === 429 || status === 503 ? retryAfterMs(res!.headers['retry-after']) : undefined,
      );
    }
    throw ApplicationFailure.nonRetryable(
      status >= 300 && status < 400
        ? `subscriber answered a redirect (${status}) beyond the ones followed`
        : `subscriber answered ${status}`,
      FAILURE_TYPES.DeliveryRejected,
    );
  }

  return {
    /**
     * Creates (once) a delivery row for every active subscription the event matches. Idempotent: a
     * replay finds the same delivery ids.
     */
    async planWebhookDeliveries(event: DomainEvent): Promise<{ id: string; subscription_id: string }[]> {
      const parsed = DomainEvent.safeParse(event);
      if (!parsed.success)
        throw ApplicationFailure.nonRetryable(
          `invalid domain event: ${parsed.error.message}`,
          FAILURE_TYPES.InvalidInput,
        );
      return deps.webhooks.planDeliveries(parsed.data);
    },

    deliverWebhook,

    /**
     * The first try of a delivery, run as a local activity inside the notify workflow's task (no task
     * round trips for the common case of a subscriber that answers 2xx). A retryable failure is
     * returned, not thrown, with the delay the retries must wait; permanent failures throw as in
     * `deliverWebhook`.
     */
    async deliverWebhookFirstTry(input: DeliverInput): Promise<FirstTryOutcome> {
      try {
        return await deliverWebhook(input);
      } catch (err) {
        if (err instanceof ApplicationFailure && err.nonRetryable) throw err;
        const delay: unknown = err instanceof ApplicationFailure ? err.nextRetryDelay : undefined;
        return {
          status: 'retry',
          delayMs:
            typeof delay === 'number'
              ? delay
              : backoffMs(1, config.retryInitialMs, config.retryMaxMs, random),
          reason: err instanceof Error ? err.message : String(err),
        };
      }
    },

    /** Marks a delivery dead-lettered: terminal, visible through the API, and redeliverable by hand. */
    async deadLetterDelivery(input: {
      deliveryId: string;
      reason: string;
      error: string | null;
    }): Promise<void> {
      await deps.webhooks.markDeadLettered(input.deliveryId, input.reason, input.error);
      deps.metrics?.deadLetters.inc({ reason: input.reason });
    },
  };
}
export type WebhookActivities = ReturnType<typeof createWebhookActivities>;
