/**
 * Messages of the rollout and cycle workflows, with the payload types they carry. Shared by workflows,
 * activities and the API (which sends them by these definitions, never by string names).
 *
 * Wrong-moment semantics (documented contract, tested in tests/workflows/canary-rollout.test.ts):
 * - `pauseRolloutSignal` while paused, or `resumeRolloutSignal` while not paused: a no-op.
 * - `abortRolloutSignal` once the rollout finished: the run is closed, so Temporal refuses the signal
 *   and the API answers 409; during a rollback already under way: a no-op.
 * - `approveStageUpdate` when no stage awaits approval: rejected by its validator with the reason,
 *   before anything is written to history.
 * - `decideApprovalUpdate` for a decision that does not await a person: rejected the same way.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { RolloutStage, RolloutState, ServingChange, Weights } from '../domain/model';
import type { TaskQueues } from '../domain/names';
import type { Verdict } from '../domain/intelligence/judge';

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

/** One judged bake of a stage (a stage may be judged several times when its bake is extended). */
export interface StageVerdict {
  stage: number;
  attempt: number;
  canary_bps: number;
  outcome: Verdict['outcome'];
  reasons: string[];
  metrics: Verdict['metrics'];
  samples: Verdict['samples'];
  window: { from: string; to: string };
}

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
