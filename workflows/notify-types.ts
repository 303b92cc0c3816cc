/** Inputs and results of the notification workflows. Pure types, shared with the API and activities. */
import type { DomainEvent } from '../domain/domain-events';

export const INTEGRATIONS = ['slack', 'github', 'jira'] as const;
export type NotifyIntegration = (typeof INTEGRATIONS)[number];

/** How hard a webhook delivery is tried; from the WEBHOOK_* settings of the process that starts it. */
export interface DeliveryPolicy {
  maxAttempts: number;
  initialIntervalMs: number;
  maxIntervalMs: number;
  /** Longest one attempt may take (the subscriber's timeout plus redirects). */
  attemptTimeoutMs: number;
  /** A worker that dies mid-attempt is noticed after this long, and the attempt is retried elsewhere. */
  heartbeatTimeoutMs: number;
  /** Attempts of one Slack, GitHub or Jira call. */
  integrationMaxAttempts: number;
}

export interface NotifyInput {
  event: DomainEvent;
  policy: DeliveryPolicy;
}

export interface RedeliverInput {
  deliveryId: string;
  policy: DeliveryPolicy;
}

export interface NotificationPlan {
  deliveries: { id: string; subscription_id: string }[];
  integrations: NotifyIntegration[];
}

export type DeliveryOutcome = {
  id: string;
  status: 'succeeded' | 'dead_lettered' | 'skipped';
  reason?: string;
};
export type IntegrationOutcome = {
  integration: NotifyIntegration;
  status: 'done' | 'failed';
  detail?: string;
};

export interface NotifyResult {
  eventId: string;
  deliveries: DeliveryOutcome[];
  integrations: IntegrationOutcome[];
}

/** Workflow ids: one notification run per event, one per redelivery. */
export const notifyWorkflowId = (eventId: string): string => `notify-${eventId}`;
export const redeliverWorkflowId = (deliveryId: string): string => `redeliver-${deliveryId}`;
export const NOTIFY_WORKFLOW_TYPES = {
  notifyEvent: 'notifyEvent',
  redeliverWebhook: 'redeliverWebhook',
} as const;

/** One scheduled run of the LLM judge: batches of at most `batchSize`, up to `maxBatches` per run. */
export interface JudgeRunInput {
  batchSize: number;
  maxBatches: number;
  /** How long a leased batch stays with this run before another run may take it. */
  leaseMs: number;
}
export type JudgeBatchInput = Pick<JudgeRunInput, 'batchSize' | 'leaseMs'>;

export interface JudgeBatchResult {
  status: 'judged' | 'not_configured';
  leased: number;
  scored: number;
  unparseable: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  /** Samples deleted for being past retention. */
  purged: number;
}
export type JudgeRunResult = Omit<JudgeBatchResult, 'purged'> & { batches: number };

/** The counters a judge batch reports and a judge run sums. */
export const JUDGE_COUNTERS = [
  'leased',
  'scored',
  'unparseable',
  'input_tokens',
  'output_tokens',
  'cost_usd',
] as const;
export const zeroJudgeCounts = (): Record<(typeof JUDGE_COUNTERS)[number], number> => ({
  leased: 0,
  scored: 0,
  unparseable: 0,
  input_tokens: 0,
  output_tokens: 0,
  cost_usd: 0,
});

/** Segments of a cycle for the prompt writer: `winner` is the arm that won a concluded experiment. */
export interface ProposalRequest {
  target: string;
  cycleId: string;
  segments: { segment: string; winner?: string; decisionId?: string }[];
  /**
   * The target policy's `prompt_proposals.min_live_variants` when the cycle chose the segments by it;
   * absent (older cycles), the anthropic setting `proposal_min_live_variants` applies.
   */
  minLiveVariants?: number;
}
export interface ProposalOutcome {
  segment: string;
  status: 'proposed' | 'skipped' | 'failed';
  reason: string;
  proposalId?: string;
  variants?: number;
}

/** The Temporal Schedule that runs the judge, one per integrations task queue. */
export const judgeScheduleId = (taskQueue: string): string => `judge-sampled-requests-${taskQueue}`;
export const JUDGE_WORKFLOW_TYPE = 'judgeSampledRequests';

/** The child an optimization cycle starts (ABANDON) so Claude drafts prompt variants off its path. */
export const PROMPT_PROPOSAL_WORKFLOW_TYPE = 'draftPromptVariants';
export const promptProposalWorkflowId = (cycleId: string): string => `prompt-proposal-${cycleId}`;
