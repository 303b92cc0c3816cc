/**
 * The domain model as zod schemas: one source for API validation, OpenAPI documents,
 * database rows and workflow arguments. Pure: no I/O, safe to import from workflow code.
 */
import { z } from 'zod';

/** A slug: lowercase letters, digits and dashes; never a path separator, so ids cannot traverse. */
export const Slug = z
  .string()
  .min(1)
  .max(63)
  .regex(
    /^[a-z0-9][a-z0-9._-]*$/,
    'lowercase letters, digits, ".", "_" and "-", starting with a letter or digit',
  );

export const TargetName = Slug.describe('Target name, e.g. "support-bot"');
export const SegmentName = Slug.describe('Segment (task type) within a target; "default" when none');
export const ArmId = Slug.describe('Arm id, unique within a target');

/** Weights are integer basis points; an arm's share of traffic is weight / 10,000. */
export const TOTAL_BASIS_POINTS = 10_000;

export const ArmParams = z
  .object({
    temperature: z.number().min(0).max(2).optional(),
    max_tokens: z.number().int().positive().max(1_000_000).optional(),
    top_p: z.number().min(0).max(1).optional(),
  })
  .catchall(z.union([z.string().max(1000), z.number(), z.boolean(), z.null()]))
  .describe('Model parameters passed through to the provider');

export const ServingPolicy = z
  .object({
    rate_limit_rps: z.number().positive().max(1e6).optional(),
    max_concurrency: z.number().int().positive().max(1e5).optional(),
    batch_size: z.number().int().positive().max(10_000).optional(),
    batch_window_ms: z.number().int().nonnegative().max(60_000).optional(),
  })
  .strict()
  .describe('How requests to this arm are served: rate limit, concurrency and batching');
export type ServingPolicy = z.infer<typeof ServingPolicy>;

export const Arm = z
  .object({
    id: ArmId,
    provider: z.string().min(1).max(100),
    model: z.string().min(1).max(200),
    prompt_template: z.string().min(1).max(200).default('default'),
    prompt_version: z.number().int().nonnegative().max(1_000_000).default(1),
    params: ArmParams.default({}),
    serving: ServingPolicy.default({}),
  })
  .strict();
export type Arm = z.infer<typeof Arm>;

export const ROLLOUT_PRESETS = {
  conservative: [100, 500, 2500, 5000, 10000],
  balanced: [500, 2500, 5000, 10000],
} as const;
export type RolloutPreset = keyof typeof ROLLOUT_PRESETS;

export const RolloutStage = z
  .object({
    /** Canary share of traffic in basis points at this stage. */
    canary_bps: z.number().int().min(1).max(TOTAL_BASIS_POINTS),
    bake_seconds: z
      .number()
      .int()
      .min(1)
      .max(30 * 24 * 3600),
    requires_approval: z.boolean().default(false),
  })
  .strict();
export type RolloutStage = z.infer<typeof RolloutStage>;

export const RolloutPolicy = z
  .object({
    preset: z.enum(['conservative', 'balanced', 'custom']).default('balanced'),
    /** Only for preset "custom"; presets derive their stages. */
    stages: z.array(RolloutStage).min(1).max(20).optional(),
    bake_seconds: z
      .number()
      .int()
      .min(1)
      .max(30 * 24 * 3600)
      .default(600),
    /** A marginal verdict extends the bake by one bake time, at most this many times per stage. */
    max_bake_extensions: z.number().int().min(0).max(20).default(3),
    // 1,500 per arm gives the canary judge >= 95% power against +3 error points with <= 1% false alarms
    // (tests/unit/intelligence/judge.test.ts); at 200 that power is about 35%.
    min_samples_per_arm: z.number().int().min(1).max(1_000_000).default(1500),
    /** Stages (0-based) that wait for a person's approval before they start. */
    approval_stages: z.array(z.number().int().min(0).max(19)).max(20).default([]),
  })
  .strict()
  .refine((p) => p.preset !== 'custom' || (p.stages !== undefined && p.stages.length > 0), {
    message: 'preset "custom" needs stages',
    path: ['stages'],
  });
export type RolloutPolicy = z.infer<typeof RolloutPolicy>;

/**
 * When an optimization cycle asks Claude for new prompt variants of a segment (`draftPromptVariants`):
 * always when the segment's prompt experiment concluded with a winner, and otherwise only while the
 * segment serves fewer than `min_live_variants` prompt variants of its primary model (arms of the same
 * provider and model with traffic). Default 0: only concluded experiments draw proposals.
 */
export const PromptProposalPolicy = z
  .object({
    min_live_variants: z.number().int().min(0).max(50).default(0),
  })
  .strict();
export type PromptProposalPolicy = z.infer<typeof PromptProposalPolicy>;

/** A decision waits a day for a person unless the target's policy says otherwise. */
export const DEFAULT_APPROVAL_TIMEOUT_SECONDS = 24 * 3600;

/** The target's policy: what the optimizer may trade and what it must never cross. */
export const TargetPolicy = z
  .object({
    /** Minimum acceptable quality as a share of the baseline arm's mean quality (0..1). */
    quality_floor: z.number().min(0).max(1).default(0.95),
    /** Absolute minimum mean quality score (0..1) regardless of baseline. */
    min_quality: z.number().min(0).max(1).optional(),
    budget_usd_per_day: z.number().positive().max(1e9).optional(),
    latency_slo_ms: z.number().positive().max(3_600_000).optional(),
    latency_slo_percentile: z.enum(['p50', 'p90', 'p95', 'p99']).default('p95'),
    error_rate_slo: z.number().min(0).max(1).optional(),
    /** Decisions need a person's approval before their rollout starts. */
    require_approval: z.boolean().default(false),
    /**
     * How long a decision that needs a person waits for approval, in seconds (default 24 h); unanswered
     * by then it resolves as `expired`. The optimization cycle's execution timeout is derived from it
     * (cycleExecutionTimeoutMs), so the window is never cut short by the run's own timeout.
     */
    approval_timeout_seconds: z
      .number()
      .int()
      .min(60)
      .max(30 * 86_400)
      .default(DEFAULT_APPROVAL_TIMEOUT_SECONDS),
    rollout: RolloutPolicy.default(RolloutPolicy.parse({})),
    /** Absent: as `{ min_live_variants: 0 }` (only concluded experiments draw prompt proposals). */
    prompt_proposals: PromptProposalPolicy.optional(),
  })
  .strict();
export type TargetPolicy = z.infer<typeof TargetPolicy>;

/** The time an optimization cycle gets for its own work (load, analyze, decide, record, start rollouts). */
export const CYCLE_WORK_BUDGET_SECONDS = 3600;

/**
 * The execution timeout of an optimization cycle for a target with this policy: its approval window
 * plus the budget for the cycle's own work. Every starter (REST, gRPC, schedules) uses it.
 */
export function cycleExecutionTimeoutMs(
  policy: Partial<Pick<TargetPolicy, 'approval_timeout_seconds'>>,
): number {
  return (
    ((policy.approval_timeout_seconds ?? DEFAULT_APPROVAL_TIMEOUT_SECONDS) + CYCLE_WORK_BUDGET_SECONDS) * 1000
  );
}

export const Weights = z
  .record(ArmId, z.number().int().min(0).max(TOTAL_BASIS_POINTS))
  .refine((w) => Object.values(w).reduce((a, b) => a + b, 0) === TOTAL_BASIS_POINTS, {
    message: `weights must sum to ${TOTAL_BASIS_POINTS} basis points`,
  });
export type Weights = Record<string, number>;

export const RoutingConfig = z.object({
  target: TargetName,
  segment: SegmentName,
  version: z.number().int().positive(),
  weights: Weights,
  /** The rollout that owns this version, if it was written by one. */
  rollout_id: z.string().nullable(),
  /** Serving-policy overrides per arm that this version carries (set by rate_limit and batching rollouts). */
  serving: z.record(ArmId, ServingPolicy.partial()).optional(),
  reason: z.string(),
  created_at: z.string().datetime(),
});
export type RoutingConfig = z.infer<typeof RoutingConfig>;

export const Target = z.object({
  name: TargetName,
  description: z.string().max(2000),
  policy: TargetPolicy,
  segments: z.array(SegmentName),
  arms: z.array(Arm),
  created_at: z.string().datetime(),
  updated_at: z.string().datetime(),
  revision: z.number().int().positive(),
});
export type Target = z.infer<typeof Target>;

export const DECISION_KINDS = [
  'model_switch',
  /** A segment's exploration share re-spread over its other arms; the primary arm stays. */
  'exploration',
  'prompt_variant',
  'rate_limit',
  'batching',
  'cost_reduction',
  'rollback',
  'no_action',
] as const;
export const DecisionKind = z.enum(DECISION_KINDS);
export type DecisionKind = z.infer<typeof DecisionKind>;

export const DECISION_STATUSES = [
  'proposed',
  'awaiting_approval',
  'approved',
  'rejected',
  'rolling_out',
  'applied',
  'rolled_back',
  'superseded',
  /** Needed a person and nobody answered within the target's approval window. */
  'expired',
  'no_action',
  'failed',
] as const;
export const DecisionStatus = z.enum(DECISION_STATUSES);
export type DecisionStatus = z.infer<typeof DecisionStatus>;

/** An expected change with its uncertainty: a point estimate and a central interval. */
export const Estimate = z.object({
  /** Relative change, e.g. -0.3 for 30% cheaper. */
  relative: z.number(),
  low: z.number(),
  high: z.number(),
});
export type Estimate = z.infer<typeof Estimate>;

export const ExpectedImpact = z.object({
  cost: Estimate.nullable(),
  latency: Estimate.nullable(),
  quality: Estimate.nullable(),
});
export type ExpectedImpact = z.infer<typeof ExpectedImpact>;

export const SafetyCheck = z.object({
  name: z.string(),
  passed: z.boolean(),
  detail: z.string(),
});
export type SafetyCheck = z.infer<typeof SafetyCheck>;

/** An arm-level serving-policy change (rate_limit, batching): no traffic moves. */
export const ServingChange = z
  .object({
    arm: ArmId,
    field: ServingPolicy.keyof(),
    from: z.number().nullable(),
    to: z.number(),
  })
  .strict();
export type ServingChange = z.infer<typeof ServingChange>;

export const Decision = z.object({
  id: z.string().uuid(),
  target: TargetName,
  segment: SegmentName,
  strategy: z.string(),
  kind: DecisionKind,
  status: DecisionStatus,
  from_version: z.number().int().nullable(),
  from_weights: Weights.nullable(),
  to_weights: Weights.nullable(),
  /** The arm the change promotes (canary), and the arm it is judged against (baseline). */
  canary_arm: ArmId.nullable(),
  baseline_arm: ArmId.nullable(),
  expected_impact: ExpectedImpact,
  confidence: z.number().min(0).max(1),
  safety_checks: z.array(SafetyCheck),
  rollback_plan: z.string(),
  explanation: z.string(),
  /** For rate_limit and batching: the arm's serving-policy field the decision sets. */
  serving_change: ServingChange.nullable().optional(),
  cycle_id: z.string().nullable(),
  rollout_id: z.string().nullable(),
  created_at: z.string().datetime(),
  updated_at: z.string().datetime(),
});
export type Decision = z.infer<typeof Decision>;

export const ROLLOUT_STATES = [
  'pending',
  'progressing',
  'paused',
  'awaiting_approval',
  'promoted',
  'rolled_back',
  'aborted',
  'failed',
] as const;
export const RolloutState = z.enum(ROLLOUT_STATES);
export type RolloutState = z.infer<typeof RolloutState>;

/** Stages of a rollout policy, presets expanded. */
export function rolloutStages(policy: RolloutPolicy): RolloutStage[] {
  if (policy.preset === 'custom') return policy.stages ?? [];
  return ROLLOUT_PRESETS[policy.preset].map((canary_bps, i) => ({
    canary_bps,
    bake_seconds: policy.bake_seconds,
    requires_approval: policy.approval_stages.includes(i),
  }));
}

/**
 * The stage of a serving change (rate_limit, batching): it applies to all of an arm's traffic, so it is
 * one stage at 100% (written with unchanged weights), baked `bake_seconds` and judged before/after;
 * it waits for a person when the policy's stage 0 does.
 */
export function servingRolloutStages(policy: RolloutPolicy): RolloutStage[] {
  return [
    {
      canary_bps: TOTAL_BASIS_POINTS,
      bake_seconds: policy.bake_seconds,
      requires_approval: policy.approval_stages.includes(0),
    },
  ];
}

/** A decision as the coordinator drafts it, before it is stored and given an id and a status. */
export type DecisionDraft = Omit<
  Decision,
  'id' | 'status' | 'created_at' | 'updated_at' | 'cycle_id' | 'rollout_id' | 'target'
> & { target: string; requires_approval: boolean };
