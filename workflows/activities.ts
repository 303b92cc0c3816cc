/**
 * The activity proxies of every workflow, built in one place from the task queues and the retry
 * policies of ./retry-policies.ts, typed by the interfaces of ./contracts.ts. A workflow asks for the
 * proxies of the queue it calls; it never builds its own.
 */
import { ActivityCancellationType, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { DeliveryPolicy } from '../domain/delivery';
import type { TaskQueues } from '../domain/names';
import type {
  AnalysisActivities,
  IntegrationActivities,
  OrchestrationActivities,
  PublishActivities,
} from './contracts';
import {
  CYCLE_ANALYSIS_RETRY,
  JUDGE_RETRY,
  PERMANENT_INTEGRATION_FAILURES,
  WRITE_RETRY,
} from './retry-policies';

/**
 * How a run that cleans up after a cancel calls its activities: it waits for each one to stop (at its
 * next heartbeat) or finish, so whatever the activity wrote is known to the cleanup that follows.
 */
export interface CancelOptions {
  waitForCancellation?: boolean;
}

const cancellation = (opts: CancelOptions) =>
  opts.waitForCancellation ? { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED } : {};

/** Config versions, the rollout read model, decision status and domain events: 20 s a try. */
export const orchestrationActivities = (queues: TaskQueues, opts: CancelOptions = {}) =>
  proxyActivities<OrchestrationActivities & PublishActivities>({
    taskQueue: queues.orchestration,
    startToCloseTimeout: '20 seconds',
    retry: WRITE_RETRY,
    ...cancellation(opts),
  });

/** The canary judge and the SLO check of a window: two minutes a try. */
export const judgeActivities = (queues: TaskQueues) =>
  proxyActivities<Pick<AnalysisActivities, 'judgeStage' | 'checkSlos'>>({
    taskQueue: queues.analysis,
    startToCloseTimeout: '2 minutes',
    retry: JUDGE_RETRY,
  });

/**
 * Loading a target, analyzing and deciding, recording decisions: 30 s a try. Waiting for cancellation,
 * they heartbeat within 20 s (a worker that died is noticed then, not after the full 30 s).
 */
export const cycleAnalysisActivities = (queues: TaskQueues, opts: CancelOptions = {}) =>
  proxyActivities<Pick<AnalysisActivities, 'loadTarget' | 'decideCycle' | 'recordDecisions'>>({
    taskQueue: queues.analysis,
    startToCloseTimeout: '30 seconds',
    retry: CYCLE_ANALYSIS_RETRY,
    ...(opts.waitForCancellation ? { heartbeatTimeout: '20 seconds' } : {}),
    ...cancellation(opts),
  });

/**
 * The notify workflows' activities on their own (integrations) queue: bookkeeping writes, one call to
 * Slack, GitHub or Jira under the policy's attempts, planning as a local activity (a couple of short
 * queries saved a task round trip on the path from a rollback to its webhook), and the first webhook
 * try as a local activity of one attempt (a retryable failure comes back as a value with its delay).
 */
export function notifyActivities(policy: DeliveryPolicy) {
  const bookkeeping = proxyActivities<IntegrationActivities>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '30 seconds' },
  });
  const integration = proxyActivities<IntegrationActivities>({
    startToCloseTimeout: '2 minutes',
    retry: {
      maximumAttempts: policy.integrationMaxAttempts,
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: '5 minutes',
      nonRetryableErrorTypes: PERMANENT_INTEGRATION_FAILURES,
    },
  });
  const planning = proxyLocalActivities<IntegrationActivities>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds' },
  });
  const firstTry = proxyLocalActivities<IntegrationActivities>({
    startToCloseTimeout: policy.attemptTimeoutMs + 5_000,
    retry: { maximumAttempts: 1 },
  });
  return { bookkeeping, integration, planning, firstTry };
}

/** The webhook activity for the attempts left after `used` tries, heartbeated, under the policy's backoff. */
export const webhookAttempts = (policy: DeliveryPolicy, used: number) =>
  proxyActivities<IntegrationActivities>({
    startToCloseTimeout: policy.attemptTimeoutMs + 15_000,
    heartbeatTimeout: policy.heartbeatTimeoutMs,
    retry: {
      maximumAttempts: Math.max(1, policy.maxAttempts - used),
      initialInterval: policy.initialIntervalMs,
      backoffCoefficient: 2,
      maximumInterval: policy.maxIntervalMs,
      nonRetryableErrorTypes: PERMANENT_INTEGRATION_FAILURES,
    },
  });

/** One batch of the LLM judge: inside the lease, so no other run takes a batch this one still scores. */
export const judgeBatchActivities = (leaseMs: number) =>
  proxyActivities<IntegrationActivities>({
    startToCloseTimeout: Math.max(1_000, Math.floor(leaseMs * 0.8)),
    retry: {
      maximumAttempts: 3,
      initialInterval: '5 seconds',
      backoffCoefficient: 2,
      nonRetryableErrorTypes: PERMANENT_INTEGRATION_FAILURES,
    },
  });

/** Claude drafting prompt variants: two attempts of at most two minutes each. */
export const proposalActivities = () =>
  proxyActivities<IntegrationActivities>({
    startToCloseTimeout: '2 minutes',
    retry: {
      maximumAttempts: 2,
      initialInterval: '10 seconds',
      nonRetryableErrorTypes: PERMANENT_INTEGRATION_FAILURES,
    },
  });
