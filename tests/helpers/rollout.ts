/**
 * Rollout setup shared by the workflow, replay, durability and end-to-end tests: a target at v1 with
 * all traffic on its baseline arm, an approved decision to move it to a canary arm, the `RolloutInput`
 * the cycle would build from the target's policy, and analysis activities whose verdicts are scripted
 * (for tests where the verdict sequence, not the statistics, is the input under test).
 */
import type { SloCheck } from '../../domain/intelligence/slo';
import type { Verdict } from '../../domain/intelligence/judge';
import {
  rolloutStages,
  servingRolloutStages,
  TargetPolicy,
  type Arm,
  type DecisionDraft,
  type ServingChange,
} from '../../domain/model';
import type { TaskQueues } from '../../domain/names';
import type { DecideInput } from '../../activities/analysis';
import type { CheckSlosInput, JudgeStageInput } from '../../activities/analysis/judge-stage';
import type { createDecisionsRepo } from '../../adapters/db/repos/decisions';
import type { createTargetsRepo } from '../../adapters/db/repos/targets';
import type { RolloutInput } from '../../workflows/messages';
import { uniqueName } from './env';

/** An arm on the default prompt with no parameters: what most tests need. */
export function testArm(id: string, provider: string, model: string): Arm {
  return { id, provider, model, prompt_template: 'default', prompt_version: 1, params: {}, serving: {} };
}

export const ARMS: Arm[] = [testArm('big', 'openai', 'gpt-4o'), testArm('small', 'openai', 'gpt-4o-mini')];

export interface RolloutRepos {
  targets: Pick<ReturnType<typeof createTargetsRepo>, 'create' | 'require'>;
  decisions: Pick<ReturnType<typeof createDecisionsRepo>, 'insert'>;
}

/** A draft moving all of the baseline's traffic to the canary on the default segment, as the coordinator would. */
export function switchDraft(
  target: string,
  requiresApproval: boolean,
  arms: { canary?: string; baseline?: string } = {},
): DecisionDraft {
  const canary = arms.canary ?? 'small';
  const baseline = arms.baseline ?? 'big';
  return {
    target,
    segment: 'default',
    strategy: 'cost_reduction',
    kind: 'model_switch',
    from_version: 1,
    from_weights: { [baseline]: 10000 },
    to_weights: { [canary]: 10000 },
    canary_arm: canary,
    baseline_arm: baseline,
    expected_impact: { cost: { relative: -0.8, low: -0.85, high: -0.75 }, latency: null, quality: null },
    confidence: 0.9,
    safety_checks: [],
    rollback_plan: 'restore v1',
    explanation: `${canary} is 80% cheaper at equal quality`,
    requires_approval: requiresApproval,
  };
}

/**
 * A rate_limit decision as the coordinator drafts it: `change` of one arm's serving policy, no weights
 * moved, the arm judged against itself before the change.
 */
export function servingDraft(
  target: string,
  fromVersion: number,
  change: ServingChange,
  requiresApproval = false,
): DecisionDraft {
  return {
    target,
    segment: 'default',
    strategy: 'adaptive_rate_limit',
    kind: 'rate_limit',
    from_version: fromVersion,
    from_weights: null,
    to_weights: null,
    canary_arm: change.arm,
    baseline_arm: change.arm,
    expected_impact: { cost: null, latency: { relative: -0.1, low: -0.2, high: 0 }, quality: null },
    confidence: 0.8,
    safety_checks: [],
    rollback_plan: `Set ${change.field} of ${change.arm} back to ${change.from ?? 'unset'}.`,
    explanation: `raise ${change.field} of ${change.arm} from ${change.from} to ${change.to}`,
    serving_change: change,
    requires_approval: requiresApproval,
  };
}

/**
 * A target at v1 with all traffic on `baseline` (default `big`) and the given policy (parsed, so
 * presets and defaults apply). `arms` defaults to big and small.
 */
export async function seedTarget(
  repos: Pick<RolloutRepos, 'targets'>,
  opts: { prefix?: string; policy?: unknown; arms?: Arm[]; baseline?: string } = {},
): Promise<string> {
  const target = uniqueName(opts.prefix ?? 'bot');
  await repos.targets.create({
    name: target,
    description: '',
    policy: TargetPolicy.parse(opts.policy ?? { rollout: { preset: 'balanced', bake_seconds: 3600 } }),
    arms: opts.arms ?? ARMS,
    segments: ['default'],
    weights: { [opts.baseline ?? 'big']: 10000 },
  });
  return target;
}

/**
 * An approved decision to move `target` from its baseline to `canary` (or, with `serving`, to change an
 * arm's serving policy from version `serving.fromVersion`), and the rollout input the cycle builds for
 * it from the target's stored policy (`overrides` replace fields, e.g. a health watch).
 */
export async function seedApprovedRollout(
  repos: RolloutRepos,
  target: string,
  taskQueues: TaskQueues,
  opts: {
    canary?: string;
    baseline?: string;
    serving?: { change: ServingChange; fromVersion: number };
    overrides?: Partial<RolloutInput>;
  } = {},
): Promise<{ input: RolloutInput; workflowId: string }> {
  const d = await repos.decisions.insert({
    ...(opts.serving
      ? servingDraft(target, opts.serving.fromVersion, opts.serving.change)
      : switchDraft(target, false, { canary: opts.canary, baseline: opts.baseline })),
    id: crypto.randomUUID(),
    status: 'approved',
    cycle_id: null,
    rollout_id: null,
  });
  const policy = (await repos.targets.require(target)).policy.rollout;
  const input: RolloutInput = {
    decisionId: d.id,
    target,
    segment: d.segment,
    strategy: d.strategy,
    canaryArm: d.canary_arm!,
    baselineArm: d.baseline_arm!,
    fromVersion: d.from_version!,
    fromWeights: d.from_weights,
    ...(d.serving_change ? { serving: d.serving_change } : {}),
    stages: d.serving_change ? servingRolloutStages(policy) : rolloutStages(policy),
    maxBakeExtensions: policy.max_bake_extensions,
    minSamplesPerArm: policy.min_samples_per_arm,
    taskQueues,
    ...opts.overrides,
  };
  return { input, workflowId: `rollout-${target}-${d.id}` };
}

/** What the scripted analysis activities answer, per target, and what they were asked. */
export interface AnalysisScript {
  /** Verdicts the judge returns per target, in order; 'pass' once a script runs out. */
  verdicts: Map<string, Verdict['outcome'][]>;
  /** SLO outcomes the health watch's check returns per target, in order; 'ok' once a script runs out. */
  slos: Map<string, SloCheck['outcome'][]>;
  /** Drafts decideCycle returns per target (the real decision when absent). */
  drafts: Map<string, DecisionDraft[]>;
  /** Every judge call, per target. */
  judged: Map<string, JudgeStageInput[]>;
  /** Every SLO check, per target. */
  sloChecked: Map<string, CheckSlosInput[]>;
}

export const newAnalysisScript = (): AnalysisScript => ({
  verdicts: new Map(),
  slos: new Map(),
  drafts: new Map(),
  judged: new Map(),
  sloChecked: new Map(),
});

/** The real analysis activities with the judge, the SLO check and (where scripted) the decision replaced by the script. */
export function scriptedAnalysisActivities<
  A extends { decideCycle(input: DecideInput): Promise<DecisionDraft[]> },
>(real: A, script: AnalysisScript) {
  return {
    ...real,
    async decideCycle(input: DecideInput): Promise<DecisionDraft[]> {
      return script.drafts.get(input.target) ?? real.decideCycle(input);
    },
    async judgeStage(input: JudgeStageInput): Promise<Verdict> {
      script.judged.set(input.target, [...(script.judged.get(input.target) ?? []), input]);
      const outcome = script.verdicts.get(input.target)?.shift() ?? 'pass';
      return {
        outcome,
        reasons: [`scripted ${outcome}`],
        metrics: [],
        samples: { baseline: 1000, canary: 1000 },
      };
    },
    async checkSlos(input: CheckSlosInput): Promise<SloCheck> {
      script.sloChecked.set(input.target, [...(script.sloChecked.get(input.target) ?? []), input]);
      const outcome = script.slos.get(input.target)?.shift() ?? 'ok';
      return {
        outcome,
        breaches: outcome === 'breach' ? ['scripted breach: latency p95 1500 ms > SLO 1000 ms'] : [],
        samples: 1000,
        metrics: {},
      };
    },
  };
}
