/**
 * The canary rollout as an entity: what the rollout workflow records and the repositories and the API
 * read. Pure types, shared by every layer above the domain.
 */
import type { Verdict } from './intelligence/judge';
import type { RolloutStage, RolloutState, Weights } from './model';

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

/** A rollout as stored: its stages, where it stands, and every verdict so far. */
export interface Rollout {
  id: string;
  decision_id: string;
  target: string;
  segment: string;
  strategy: string;
  canary_arm: string;
  baseline_arm: string;
  state: RolloutState;
  stages: RolloutStage[];
  current_stage: number;
  weights: Weights | null;
  verdicts: StageVerdict[];
  from_version: number;
  to_version: number | null;
  reason: string;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

/** What starting a rollout records. */
export type NewRollout = Pick<
  Rollout,
  | 'id'
  | 'decision_id'
  | 'target'
  | 'segment'
  | 'strategy'
  | 'canary_arm'
  | 'baseline_arm'
  | 'stages'
  | 'from_version'
>;

/** A change of a rollout's state, with whatever moved along with it. */
export interface RolloutProgress {
  state: RolloutState;
  current_stage?: number;
  weights?: Weights | null;
  verdicts?: StageVerdict[];
  to_version?: number | null;
  reason?: string;
}
