/** Inputs, results and message payloads of the workflows. Pure types: shared with the API and activities. */
import type { TaskQueues } from '../domain/names';
import type { Decision } from '../domain/model';

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
