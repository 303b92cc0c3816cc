/**
 * Notification of one domain event: every matching webhook subscription and configured integration,
 * each delivered on its own so one dead destination delays nobody else. Runs on the integrations task
 * queue, started by the publish activity and never awaited by the optimization flow.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  log,
  patched,
  setCurrentDetails,
  sleep,
} from '@temporalio/workflow';
import { judgeBatchActivities, notifyActivities, proposalActivities, webhookAttempts } from './activities';
import {
  JUDGE_COUNTERS,
  zeroJudgeCounts,
  type DeliveryOutcome,
  type DeliveryPolicy,
  type IntegrationOutcome,
  type JudgeRunInput,
  type JudgeRunResult,
  type ProposalOutcome,
  type ProposalRequest,
  type NotifyInput,
  type NotifyIntegration,
  type NotifyResult,
  type RedeliverInput,
} from './contracts';
import { PERMANENT_INTEGRATION_FAILURES as PERMANENT } from './retry-policies';

function failureMessage(err: unknown): { type: string | undefined; message: string } {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) return { type: cause.type ?? undefined, message: cause.message };
  return { type: undefined, message: cause instanceof Error ? cause.message : String(cause) };
}

/**
 * Tries one delivery under the policy; dead-letters it when refused or out of attempts. The first try
 * runs as a local activity in the workflow's own task, so a subscriber that answers at once costs no
 * activity task and no second workflow task; a retryable failure waits its delay on a durable timer and
 * the remaining attempts run as a regular activity (heartbeated, retried by Temporal).
 */
async function deliver(deliveryId: string, policy: DeliveryPolicy): Promise<DeliveryOutcome> {
  const { bookkeeping, firstTry } = notifyActivities(policy);
  try {
    let attemptOffset = 0;
    if (policy.maxAttempts > 1 && patched('local-first-delivery-attempt')) {
      let retryIn = policy.initialIntervalMs;
      try {
        const first = await firstTry.deliverWebhookFirstTry({ deliveryId });
        if (first.status !== 'retry')
          return { id: deliveryId, status: first.status, ...(first.reason ? { reason: first.reason } : {}) };
        retryIn = first.delayMs;
        log.info('first delivery try failed; retrying as an activity', { deliveryId, reason: first.reason });
      } catch (err) {
        // Refused for good: dead-letter below. Anything else (a timed-out try) retries as an activity.
        if (PERMANENT.includes(failureMessage(err).type ?? '')) throw err;
      }
      await sleep(retryIn);
      attemptOffset = 1;
    }
    const r = await webhookAttempts(policy, attemptOffset).deliverWebhook.executeWithOptions(
      { summary: `deliver ${deliveryId}` },
      [{ deliveryId, ...(attemptOffset ? { attemptOffset } : {}) }],
    );
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
  const { integration } = notifyActivities(input.policy);
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
  const { planning } = notifyActivities(input.policy);
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

/**
 * One run of the LLM judge, started by the Temporal Schedule `judge-sampled-requests-<task queue>`:
 * scores submitted samples batch by batch until none are left or `maxBatches` ran, each batch emitting
 * `eval.result` events into the ingest pipeline. Returns the tokens and cost spent. A batch's activity
 * is retried 3 times; its samples' lease makes a later run take them again if all attempts fail.
 */
export async function judgeSampledRequests(input: JudgeRunInput): Promise<JudgeRunResult> {
  const { judgePendingSamples } = judgeBatchActivities(input.leaseMs);
  const total: JudgeRunResult = { status: 'judged', batches: 0, ...zeroJudgeCounts() };
  for (let i = 0; i < input.maxBatches; i++) {
    const r = await judgePendingSamples.executeWithOptions({ summary: `judge batch ${i + 1}` }, [
      { batchSize: input.batchSize, leaseMs: input.leaseMs },
    ]);
    total.batches += 1;
    total.status = r.status;
    for (const k of JUDGE_COUNTERS) total[k] += r[k];
    if (r.status === 'not_configured' || r.leased < input.batchSize) break;
  }
  setCurrentDetails(
    total.status === 'not_configured'
      ? 'Anthropic is not configured: nothing judged'
      : `Judged ${total.scored} sample(s) (${total.unparseable} unparseable) for ${total.input_tokens + total.output_tokens} tokens, $${total.cost_usd.toFixed(4)}`,
  );
  return total;
}

/**
 * Claude drafts prompt variants for the segments of one optimization cycle (from a concluded
 * experiment's winner, or for a segment with too few live variants) and stores them as proposals
 * awaiting approval. Started by `optimizationCycle` as an abandoned child on the integrations queue, so
 * its latency or failure never reaches the cycle; two attempts of at most two minutes each.
 */
export async function draftPromptVariants(input: ProposalRequest): Promise<ProposalOutcome[]> {
  const { proposePromptVariantsForCycle } = proposalActivities();
  const outcomes = await proposePromptVariantsForCycle.executeWithOptions(
    { summary: `draft prompt variants for ${input.target}` },
    [input],
  );
  setCurrentDetails(outcomes.map((o) => `- **${o.segment}**: ${o.status} — ${o.reason}`).join('\n'));
  return outcomes;
}
