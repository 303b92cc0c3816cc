/**
 * Notification of one domain event: every matching webhook subscription and configured integration,
 * each delivered on its own so one dead destination delays nobody else. Runs on the integrations task
 * queue, started by the publish activity and never awaited by the optimization flow.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  log,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
} from '@temporalio/workflow';
import type { IntegrationActivities } from '../activities/integrations';
import type {
  DeliveryOutcome,
  DeliveryPolicy,
  IntegrationOutcome,
  NotifyInput,
  NotifyIntegration,
  NotifyResult,
  RedeliverInput,
} from './notify-types';

const PERMANENT = ['DeliveryRejected', 'InvalidInput', 'InvalidConfig'];

function failureMessage(err: unknown): { type: string | undefined; message: string } {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) return { type: cause.type ?? undefined, message: cause.message };
  return { type: undefined, message: cause instanceof Error ? cause.message : String(cause) };
}

function activities(policy: DeliveryPolicy) {
  const bookkeeping = proxyActivities<IntegrationActivities>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '30 seconds' },
  });
  const webhook = proxyActivities<IntegrationActivities>({
    startToCloseTimeout: policy.attemptTimeoutMs + 15_000,
    heartbeatTimeout: policy.heartbeatTimeoutMs,
    retry: {
      maximumAttempts: policy.maxAttempts,
      initialInterval: policy.initialIntervalMs,
      backoffCoefficient: 2,
      maximumInterval: policy.maxIntervalMs,
      nonRetryableErrorTypes: PERMANENT,
    },
  });
  const integration = proxyActivities<IntegrationActivities>({
    startToCloseTimeout: '2 minutes',
    retry: {
      maximumAttempts: policy.integrationMaxAttempts,
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: '5 minutes',
      nonRetryableErrorTypes: PERMANENT,
    },
  });
  // Planning is a couple of short queries: as a local activity it runs inside the workflow task, saving
  // a task round trip on the path from a rollback to its webhook.
  const planning = proxyLocalActivities<IntegrationActivities>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds' },
  });
  return { bookkeeping, webhook, integration, planning };
}

/** Tries one delivery under the policy; dead-letters it when refused or out of attempts. */
async function deliver(deliveryId: string, policy: DeliveryPolicy): Promise<DeliveryOutcome> {
  const { bookkeeping, webhook } = activities(policy);
  try {
    const r = await webhook.deliverWebhook.executeWithOptions({ summary: `deliver ${deliveryId}` }, [
      { deliveryId },
    ]);
    return { id: deliveryId, status: r.status, ...(r.reason ? { reason: r.reason } : {}) };
  } catch (err) {
    const { type, message } = failureMessage(err);
    const reason = type === 'DeliveryRejected' ? 'rejected' : 'attempts_exhausted';
    await bookkeeping.deadLetterDelivery({ deliveryId, reason, error: message });
    log.warn('webhook delivery dead-lettered', { deliveryId, reason, error: message });
    return { id: deliveryId, status: 'dead_lettered', reason };
  }
}

async function notifyIntegration(kind: NotifyIntegration, input: NotifyInput): Promise<IntegrationOutcome> {
  const { integration } = activities(input.policy);
  const run = {
    slack: integration.notifySlack,
    github: integration.syncGithubIssue,
    jira: integration.syncJiraIssue,
  }[kind];
  try {
    const detail = await run.executeWithOptions({ summary: `${kind}: ${input.event.type}` }, [input.event]);
    return { integration: kind, status: 'done', detail };
  } catch (err) {
    const { message } = failureMessage(err);
    log.warn('integration notification failed', { integration: kind, error: message });
    return { integration: kind, status: 'failed', detail: message };
  }
}

/**
 * Delivers one domain event to every matching webhook subscription (signed, retried with backoff and
 * jitter, dead-lettered after the last attempt) and to Slack, GitHub and Jira as configured. Never fails
 * for a destination's sake: the result lists each outcome. Workflow id `notify-<event id>`.
 */
export async function notifyEvent(input: NotifyInput): Promise<NotifyResult> {
  const { planning } = activities(input.policy);
  setCurrentDetails(`**${input.event.type}** for **${input.event.target}**: ${input.event.summary}`);
  const plan = await planning.planNotifications(input.event);
  const [deliveries, integrations] = await Promise.all([
    Promise.all(plan.deliveries.map((d) => deliver(d.id, input.policy))),
    Promise.all(plan.integrations.map((kind) => notifyIntegration(kind, input))),
  ]);
  const failed =
    deliveries.filter((d) => d.status === 'dead_lettered').length +
    integrations.filter((i) => i.status === 'failed').length;
  setCurrentDetails(
    `**${input.event.type}** for **${input.event.target}**: ${deliveries.length} webhook(s), ${integrations.length} integration(s), ${failed} failed`,
  );
  return { eventId: input.event.id, deliveries, integrations };
}

/** Sends an existing delivery again (`POST /v1/webhooks/{id}/deliveries/{delivery}/redeliver`). */
export async function redeliverWebhook(input: RedeliverInput): Promise<DeliveryOutcome> {
  return deliver(input.deliveryId, input.policy);
}
