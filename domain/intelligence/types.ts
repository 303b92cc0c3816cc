/**
 * The vocabulary of the intelligence layer: what analyzers report, what strategies propose and what
 * the coordinator decides. Pure types; safe anywhere.
 */
import type { Arm, Decision, ExpectedImpact, ServingChange, TargetPolicy, Weights } from '../model';
import type { WindowAggregate } from '../aggregate';

export type Severity = 'info' | 'warning' | 'critical';
export type AnalyzerName = 'performance' | 'cost' | 'quality' | 'pattern' | 'anomaly';

/** The windows and numbers a finding rests on, so a reader can check it. */
export interface Evidence {
  segment: string | null;
  arm: string | null;
  /** [first window_start, last window_end) of the windows read. */
  windows: { from: string; to: string; count: number };
  /** Named numbers, e.g. { p95_ms: 812, slo_ms: 700 }. */
  values: Record<string, number>;
}

export interface Finding {
  analyzer: AnalyzerName;
  /** Stable machine code, e.g. "latency_slo_breach". */
  code: string;
  message: string;
  severity: Severity;
  /** 0..1: one minus the p-value where a test backs the finding, else a stated heuristic. */
  confidence: number;
  evidence: Evidence;
}

export interface AnalysisReport {
  target: string;
  generated_at: string;
  windows: { from: string; to: string; count: number };
  insights: Finding[];
  recommendations: Finding[];
  alerts: Finding[];
}

/** What one analyzer returns. */
export interface AnalyzerOutput {
  insights: Finding[];
  recommendations: Finding[];
  alerts: Finding[];
}

export type StrategyName =
  'model_selection' | 'prompt_optimization' | 'cost_reduction' | 'rate_limiting' | 'batching';

/** A change a strategy proposes, before the coordinator's ranking, conflict and safety rules. */
export interface Candidate {
  strategy: StrategyName;
  kind: Decision['kind'];
  segment: string;
  canary_arm: string | null;
  baseline_arm: string | null;
  from_weights: Weights | null;
  to_weights: Weights | null;
  /** Arm-level serving changes (rate limit, batching) that do not move traffic. */
  serving_change?: ServingChange | undefined;
  expected_impact: ExpectedImpact;
  /** Posterior probability (or 1 - p) that the change is better under the target's policy. */
  confidence: number;
  /** Expected absolute numbers the explanation quotes. */
  numbers: Record<string, number>;
  rationale: string;
}

export interface DecisionDraft {
  target: string;
  segment: string;
  strategy: string;
  kind: Decision['kind'];
  from_version: number | null;
  from_weights: Weights | null;
  to_weights: Weights | null;
  canary_arm: string | null;
  baseline_arm: string | null;
  expected_impact: ExpectedImpact;
  confidence: number;
  safety_checks: Decision['safety_checks'];
  rollback_plan: string;
  explanation: string;
  requires_approval: boolean;
  /** For rate_limit and batching: the arm's serving-policy field to set (no traffic moves). */
  serving_change?: ServingChange | undefined;
}

export interface SegmentRouting {
  version: number;
  weights: Weights;
}

/** A prompt experiment: variants are arms of the same target and segment. */
export interface ExperimentDefinition {
  id: string;
  segment: string;
  /** Arm ids; the first is the control. */
  variants: string[];
  /** Planned traffic shares (any scale), same order as variants. */
  planned_shares: number[];
  /** Exposures counted per variant by experiment.exposure events, when known; else request counts. */
  exposures?: Record<string, number> | undefined;
  started_at: string;
}

export interface CycleOptions {
  /** Posterior probability a switch must reach. */
  switch_threshold: number;
  /** Upper bound on the traffic share routed to arms other than the primary, per segment. */
  exploration_share: number;
  /** Minimum confidence the coordinator accepts for any change. */
  min_confidence: number;
  max_concurrent_rollouts: number;
  /** Thompson draws per segment. */
  posterior_draws: number;
  /** Pseudo-observations of the hierarchical prior on an arm's quality in a segment. */
  prior_strength: number;
  /** Added to the quality floor when model selection plans, against the winner's curse. */
  quality_margin: number;
  /** Smallest exploration share a segment keeps (Thompson exploration shrinks toward it). */
  min_exploration_share: number;
}

export interface CycleInput {
  target: string;
  policy: TargetPolicy;
  arms: Arm[];
  routing: Record<string, SegmentRouting>;
  aggregates: WindowAggregate[];
  /** Segments with a rollout in progress. */
  active_rollouts: string[];
  now: string;
  seed: number;
  experiments?: ExperimentDefinition[] | undefined;
  options?: Partial<CycleOptions> | undefined;
}

export interface CycleOutput {
  report: AnalysisReport;
  candidates: Candidate[];
  decisions: DecisionDraft[];
}
