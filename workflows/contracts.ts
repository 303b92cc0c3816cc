/**
 * Every contract of the workflows in one module: their inputs and results, the signals, updates and
 * queries they answer, and the activities they call, as interfaces. Workflows import this module and
 * never activities/*; the activity factories declare that they implement these interfaces; the API
 * sends messages by these definitions, never by string names. Pure types and message definitions:
 * nothing here does I/O.
 *
 * Wrong-moment semantics of the messages (documented contract, tested in
 * tests/workflows/canary-rollout.test.ts):
 * - `pauseRolloutSignal` while paused, or `resumeRolloutSignal` while not paused: a no-op.
 * - `abortRolloutSignal` once the rollout finished: the run is closed, so Temporal refuses the signal
 *   and the API answers 409; during a rollback already under way: a no-op.
 * - `approveStageUpdate` when no stage awaits approval: rejected by its validator with the reason,
 *   before anything is written to history.
 * - `decideApprovalUpdate` for a decision that does not await a person: rejected the same way.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { DeliveryPolicy } from '../domain/delivery';
import type { DomainEvent } from '../domain/domain-events';
import type { JudgeThresholds, Verdict } from '../domain/intelligence/judge';
import type { SloCheck } from '../domain/intelligence/slo';
import type {
  Decision,
  DecisionDraft,
  DecisionStatus,
  RolloutStage,
  RolloutState,
  ServingChange,
  Target,
  Weights,
} from '../domain/model';
import type { TaskQueues } from '../domain/names';
import type { NewRollout, Rollout, RolloutProgress, StageVerdict } from '../domain/rollout';

export type { DeliveryPolicy } from '../domain/delivery';
export type { StageVerdict } from '../domain/rollout';

// ---------------------------------------------------------------------------------------------------
// Rollouts: canaryRollout, rollback, healthWatch
// ---------------------------------------------------------------------------------------------------

export interface PauseRequest {
  by?: string;
  reason?: string;
}

export interface AbortRequest {
  by?: string;
  reason?: string;
}

export interface ApproveStageRequest {
  /** The 0-based stage the caller means to approve; refused when another stage awaits. */
  stage?: number;
  by?: string;
}

export interface ApprovalDecisionRequest {
  decisionId: string;
  approve: boolean;
  by?: string;
  reason?: string;
}

export const pauseRolloutSignal = defineSignal<[PauseRequest]>('pauseRollout');
export const resumeRolloutSignal = defineSignal<[PauseRequest]>('resumeRollout');
export const abortRolloutSignal = defineSignal<[AbortRequest]>('abortRollout');
export const approveStageUpdate = defineUpdate<{ stage: number; approved: true }, [ApproveStageRequest]>(
  'approveStage',
);
export const rolloutStatusQuery = defineQuery<RolloutStatus>('rolloutStatus');
export const decideApprovalUpdate = defineUpdate<
  { decisionId: string; status: 'approved' | 'rejected' },
  [ApprovalDecisionRequest]
>('decideApproval');

export interface RolloutInput {
  decisionId: string;
  target: string;
  segment: string;
  strategy: string;
  canaryArm: string;
  baselineArm: string;
  /** The routing-config version the change starts from: what a rollback restores exactly. */
  fromVersion: number;
  /** The weights the canary's stages are cut from; null for a serving change (the weights stay as they are). */
  fromWeights: Weights | null;
  /**
   * A serving change (rate_limit, batching) instead of a weight canary: it applies to all of the arm's
   * traffic, so the rollout has one stage that writes it with the same weights, and each bake judges the
   * arm's windows after the change against its own windows of equal span before it, plus the SLOs.
   * `canaryArm` and `baselineArm` are then both the arm changed.
   */
  serving?: ServingChange;
  stages: RolloutStage[];
  /** A marginal verdict extends the bake this many times at most; beyond it the rollout rolls back. */
  maxBakeExtensions: number;
  minSamplesPerArm: number;
  taskQueues: TaskQueues;
  /** After promotion, watch the promoted arm against the pre-change baseline (healthWatch); none when absent. */
  healthWatch?: { intervalSeconds: number; durationSeconds: number };
}

export interface HealthWatchInput {
  target: string;
  segment: string;
  rolloutId: string | null;
  decisionId: string | null;
  /** The arm now serving, and the arm it replaced (whose pre-change window is the baseline). */
  promotedArm: string;
  baselineArm: string;
  /** The pre-change window [from, to) of the baseline arm. */
  baselineWindow: { from: string; to: string };
  /** The version a degradation restores, and the version the watch protects (it stops if the config moves on). */
  restoreVersion: number;
  watchedVersion: number;
  intervalSeconds: number;
  /** When the watch ends healthy (ISO time). */
  until: string;
  minSamplesPerArm: number;
  /** Checks already made by earlier runs (continue-as-new). */
  checks: number;
  /**
   * Consecutive degraded checks (baseline regression or SLO breach) that start a rollback (default 2):
   * one noisy window is a strike, not a rollback.
   */
  degradedChecksToRollback?: number;
  /** Consecutive degraded checks carried over from the previous run (continue-as-new). */
  strikes?: number;
  taskQueues: TaskQueues;
}

export interface HealthWatchResult {
  outcome: 'healthy' | 'rolled_back' | 'superseded';
  checks: number;
  reason: string;
}

export interface RolloutStatus {
  rolloutId: string;
  decisionId: string;
  target: string;
  segment: string;
  state: RolloutState;
  /** 0-based index of the stage in progress (or last reached). */
  stage: number;
  stages: RolloutStage[];
  weights: Weights | null;
  configVersion: number | null;
  paused: boolean;
  awaitingApproval: number | null;
  verdicts: StageVerdict[];
  reason: string | null;
  rollbackId: string | null;
}

export interface RolloutResult {
  rolloutId: string;
  state: 'promoted' | 'rolled_back' | 'aborted';
  finalVersion: number | null;
  verdicts: StageVerdict[];
  reason: string;
}

export type RollbackTrigger = 'stage_failed' | 'inconclusive' | 'abort' | 'health_watch' | 'manual';

export interface RollbackInput {
  target: string;
  segment: string;
  /** The exact version whose weights are restored (as a new version: history is append-only). */
  restoreVersion: number;
  trigger: RollbackTrigger;
  reason: string;
  rolloutId: string | null;
  decisionId: string | null;
  taskQueues: TaskQueues;
  /** Restore only while this version is current: a later change by someone else is never overwritten. */
  expectedCurrentVersion?: number;
}

export interface RollbackResult {
  restoredVersion: number;
  newVersion: number;
  weights: Weights;
}

// ---------------------------------------------------------------------------------------------------
// Optimization cycle
// ---------------------------------------------------------------------------------------------------

export interface CycleInput {
  target: string;
  /** Only this segment; all of the target's segments when absent. */
  segment?: string;
  trigger: 'api' | 'schedule';
  /** Task queues of the activity owners; the standard names unless a test isolates itself. */
  taskQueues: TaskQueues;
  /**
   * How long a decision that needs a person waits for approval before it expires; the target policy's
   * `approval_timeout_seconds` (default 24 h) when absent. Capped by the run's execution timeout.
   */
  approvalWindowSeconds?: number;
  /**
   * Whether the cycle starts `draftPromptVariants` (Claude drafts prompt variants) on the integrations
   * queue; default true. The time-skipping test server leaks its time lock when an abandoned child
   * completes after its closed parent, so the cycle tests that wait on a rollout's timers turn it off.
   */
  draftPromptVariants?: boolean;
}

export type CyclePhase =
  | 'loading'
  | 'analyzing'
  | 'deciding'
  | 'recording'
  | 'starting_rollouts'
  | 'awaiting_approval'
  | 'done'
  | 'failed';

export interface CycleStatus {
  target: string;
  phase: CyclePhase;
  decisionIds: string[];
  /** Decisions still waiting for a person. */
  awaitingApproval?: string[];
  /** Rollouts (workflow ids) this cycle started. */
  rolloutIds?: string[];
}

export interface CycleResult {
  target: string;
  decisions: Decision[];
  /** Rollouts (workflow ids) this cycle started. */
  rolloutIds?: string[];
}

export const cycleStatusQuery = defineQuery<CycleStatus>('cycleStatus');

// ---------------------------------------------------------------------------------------------------
// Notifications, the LLM judge and prompt proposals (integrations queue)
// ---------------------------------------------------------------------------------------------------

export const INTEGRATIONS = ['slack', 'github', 'jira'] as const;
export type NotifyIntegration = (typeof INTEGRATIONS)[number];

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

// ---------------------------------------------------------------------------------------------------
// Activities the workflows call, by task queue. The factories in activities/* implement them.
// ---------------------------------------------------------------------------------------------------

/** Loads, analyzes and decides a cycle (decideCycle's input). */
export interface DecideInput {
  target: string;
  segments: string[];
  cycleId: string;
}

export interface JudgeStageInput {
  target: string;
  segment: string;
  baselineArm: string;
  canaryArm: string;
  /** ISO timestamps of the stage's window [from, to): both arms are judged on the same window. */
  from: string;
  to: string;
  /** A different window for the baseline arm (the health watch compares with the pre-change window). */
  baselineWindow?: { from: string; to: string };
  thresholds?: Partial<JudgeThresholds>;
}

export interface CheckSlosInput {
  target: string;
  segment: string;
  /** The arm now serving, checked over [from, to). */
  arm: string;
  from: string;
  to: string;
  /** The pre-change baseline (arm and window): the reference of the relative quality floor. */
  baselineArm: string;
  baselineWindow: { from: string; to: string };
  minSamples: number;
}

/** The analysis task queue. */
export interface AnalysisActivities {
  /** `TargetNotFound` when the target does not exist. */
  loadTarget(name: string): Promise<Target>;
  /** `TargetNotFound`; `InvalidConfig` when a segment has no routing config. */
  decideCycle(input: DecideInput): Promise<DecisionDraft[]>;
  /** Idempotent: a retry stores nothing twice. */
  recordDecisions(input: { cycleId: string; drafts: DecisionDraft[] }): Promise<Decision[]>;
  /** Pass, marginal or fail for one bake; `InvalidInput` for an empty or inverted window. */
  judgeStage(input: JudgeStageInput): Promise<Verdict>;
  /** The serving arm against the target's SLOs. */
  checkSlos(input: CheckSlosInput): Promise<SloCheck>;
}

export interface ApplyConfigInput {
  /** The rollout (workflow id) that owns the new version. */
  rolloutId: string;
  /** A step name unique within the rollout, e.g. "stage-2": the idempotency key of this write. */
  step: string;
  target: string;
  segment: string;
  /** The version this write must follow; another writer in between fails it as `StaleConfigVersion`. */
  expectedVersion: number;
  /** Absent: the weights of `expectedVersion` carry forward (a serving change moves no traffic). */
  weights?: Weights;
  reason: string;
}

export interface AppliedConfig {
  version: number;
  weights: Weights;
  /** True when a previous attempt had already written this step's version. */
  reused: boolean;
}

export interface RestoreConfigInput {
  /** The rollback (workflow id) that owns the restoring version. */
  rollbackId: string;
  /** Idempotency key of this restore within the rollback. */
  step: string;
  target: string;
  segment: string;
  restoreVersion: number;
  reason: string;
  /** Refuse (`StaleConfigVersion`) unless this version is current. */
  expectedCurrentVersion?: number;
}

/**
 * The orchestration task queue: idempotent writes of config versions, the rollout read model and
 * decision status. Failure types: `TargetNotFound`, `StaleConfigVersion`, `RolloutConflict`,
 * `InvalidConfig`, `InvalidInput`.
 */
export interface OrchestrationActivities {
  recordRolloutStart(input: NewRollout): Promise<Rollout>;
  recordRolloutState(input: { rolloutId: string } & RolloutProgress): Promise<void>;
  applyRoutingConfig(input: ApplyConfigInput): Promise<AppliedConfig>;
  restoreRoutingConfig(input: RestoreConfigInput): Promise<RollbackResult>;
  setDecisionStatus(input: {
    decisionId: string;
    status: DecisionStatus;
    rolloutId?: string;
  }): Promise<Decision>;
}

/** Registered on the orchestration and integrations queues. `InvalidInput` for a malformed event. */
export interface PublishActivities {
  publishDomainEvent(event: DomainEvent): Promise<{ stored: boolean }>;
}

export interface DeliverInput {
  deliveryId: string;
  /** Tries made before this activity's first attempt (the local first try), for the backoff. */
  attemptOffset?: number;
}

export type FirstTryOutcome =
  Omit<DeliveryOutcome, 'id'> | { status: 'retry'; delayMs: number; reason: string };

/** The integrations task queue, as far as workflows call it. */
export interface IntegrationActivities {
  planNotifications(event: DomainEvent): Promise<NotificationPlan>;
  deliverWebhookFirstTry(input: DeliverInput): Promise<FirstTryOutcome>;
  deliverWebhook(input: DeliverInput): Promise<Omit<DeliveryOutcome, 'id'>>;
  deadLetterDelivery(input: { deliveryId: string; reason: string; error: string | null }): Promise<void>;
  notifySlack(event: DomainEvent): Promise<string>;
  syncGithubIssue(event: DomainEvent): Promise<string>;
  syncJiraIssue(event: DomainEvent): Promise<string>;
  judgePendingSamples(input: JudgeBatchInput): Promise<JudgeBatchResult>;
  proposePromptVariantsForCycle(input: ProposalRequest): Promise<ProposalOutcome[]>;
}
