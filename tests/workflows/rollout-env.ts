/**
 * A time-skipping Temporal test server with the real orchestration activities over the real test
 * database, and a scripted canary judge on the analysis queue (the judge's statistics have their own
 * tests; here the verdict sequence is the input under test).
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import proto from '@temporalio/proto';
import type { Verdict } from '../../domain/intelligence/judge';
import { rolloutStages, TargetPolicy, type Arm, type DecisionDraft } from '../../domain/model';
import { SEARCH_ATTRIBUTES, type TaskQueues } from '../../domain/names';
import { createOrchestrationActivities } from '../../activities/orchestration';
import { createAnalysisActivities, type DecideInput } from '../../activities/analysis';
import { createPublishActivities } from '../../activities/integrations/publish';
import { createPool, type Db } from '../../infra/db/pool';
import { createDecisionsRepo } from '../../infra/db/repos/decisions';
import { createDomainEventsRepo } from '../../infra/db/repos/domain-events';
import { createRolloutsRepo } from '../../infra/db/repos/rollouts';
import { createTargetsRepo } from '../../infra/db/repos/targets';
import { createLogger } from '../../infra/logger';
import { workflowBundlePath, installRuntime } from '../../infra/temporal';
import type { JudgeStageInput } from '../../activities/analysis/judge-stage';
import type { RolloutInput } from '../../workflows/messages';
import { testEnv, uniqueName } from '../helpers/env';

export type Outcome = Verdict['outcome'];

export interface RolloutTestEnv {
  env: TestWorkflowEnvironment;
  db: Db;
  repos: ReturnType<typeof repos>;
  taskQueues: TaskQueues;
  /** Verdicts the judge returns per target, in order; 'pass' once a script runs out. */
  script: Map<string, Outcome[]>;
  /** Every judge call, per target. */
  judged: Map<string, JudgeStageInput[]>;
  /** Drafts the cycle's decideCycle returns per target (the real no_action drafts when absent). */
  drafts: Map<string, DecisionDraft[]>;
  stop(): Promise<void>;
}

const repos = (db: Db) => ({
  targets: createTargetsRepo(db),
  decisions: createDecisionsRepo(db),
  rollouts: createRolloutsRepo(db),
  events: createDomainEventsRepo(db),
});

export async function startRolloutEnv(): Promise<RolloutTestEnv> {
  const logger = createLogger('test', testEnv.LOG_LEVEL);
  installRuntime(logger);
  const path = process.env.TEMPORAL_TEST_SERVER_PATH;
  if (!path) throw new Error('TEMPORAL_TEST_SERVER_PATH is not set (eval "$(bash infra/services.sh env)")');
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path } },
  });
  // The test server knows no custom search attributes until told, and refuses upserts of unknown ones.
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(
      SEARCH_ATTRIBUTES.map((n) => [
        n,
        proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
      ]),
    ),
  });
  const db = createPool(testEnv.DATABASE_URL, 5);
  const r = repos(db);
  const suffix = uniqueName('ts');
  const taskQueues: TaskQueues = {
    orchestration: `orchestration-${suffix}`,
    analysis: `analysis-${suffix}`,
    integrations: `integrations-${suffix}`,
  };
  const script = new Map<string, Outcome[]>();
  const judged = new Map<string, JudgeStageInput[]>();
  const drafts = new Map<string, DecisionDraft[]>();
  const analysisActivities = createAnalysisActivities({ targets: r.targets, decisions: r.decisions, logger });
  const orchestration = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: taskQueues.orchestration,
    workflowBundle: { codePath: await workflowBundlePath() },
    activities: {
      ...createOrchestrationActivities({ ...r, logger }),
      ...createPublishActivities({ events: r.events, logger }),
    },
  });
  const analysis = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: taskQueues.analysis,
    activities: {
      ...analysisActivities,
      async decideCycle(input: DecideInput): Promise<DecisionDraft[]> {
        return drafts.get(input.target) ?? analysisActivities.decideCycle(input);
      },
      async judgeStage(input: JudgeStageInput): Promise<Verdict> {
        judged.set(input.target, [...(judged.get(input.target) ?? []), input]);
        const outcome = script.get(input.target)?.shift() ?? 'pass';
        return {
          outcome,
          reasons: [`scripted ${outcome}`],
          metrics: [],
          samples: { baseline: 1000, canary: 1000 },
        };
      },
    },
  });
  const runs = [orchestration.run(), analysis.run()];
  return {
    env,
    db,
    repos: r,
    taskQueues,
    script,
    judged,
    drafts,
    async stop() {
      orchestration.shutdown();
      analysis.shutdown();
      await Promise.all(runs);
      await env.teardown();
      await db.end();
    },
  };
}

export const ARMS: Arm[] = [
  {
    id: 'big',
    provider: 'openai',
    model: 'gpt-4o',
    prompt_template: 'default',
    prompt_version: 1,
    params: {},
    serving: {},
  },
  {
    id: 'small',
    provider: 'openai',
    model: 'gpt-4o-mini',
    prompt_template: 'default',
    prompt_version: 1,
    params: {},
    serving: {},
  },
];

/** A target at v1 with all traffic on `big`, and an approved decision to move it to `small`. */
export async function seedRollout(
  t: RolloutTestEnv,
  opts: {
    preset?: 'conservative' | 'balanced';
    bakeSeconds?: number;
    approvalStages?: number[];
    maxBakeExtensions?: number;
    canaryArm?: string;
  } = {},
): Promise<{ target: string; input: RolloutInput; workflowId: string }> {
  const target = uniqueName('bot');
  const policy = TargetPolicy.parse({
    rollout: {
      preset: opts.preset ?? 'conservative',
      bake_seconds: opts.bakeSeconds ?? 3600,
      approval_stages: opts.approvalStages ?? [],
      max_bake_extensions: opts.maxBakeExtensions ?? 2,
    },
  });
  await t.repos.targets.create({
    name: target,
    description: '',
    policy,
    arms: ARMS,
    segments: ['default'],
    weights: { big: 10000 },
  });
  const decision = await t.repos.decisions.insert({
    id: crypto.randomUUID(),
    target,
    segment: 'default',
    strategy: 'cost_reduction',
    kind: 'model_switch',
    status: 'approved',
    from_version: 1,
    from_weights: { big: 10000 },
    to_weights: { small: 10000 },
    canary_arm: opts.canaryArm ?? 'small',
    baseline_arm: 'big',
    expected_impact: { cost: null, latency: null, quality: null },
    confidence: 0.9,
    safety_checks: [],
    rollback_plan: 'restore v1',
    explanation: 'cheaper at equal quality',
    cycle_id: null,
    rollout_id: null,
  });
  const input: RolloutInput = {
    decisionId: decision.id,
    target,
    segment: 'default',
    strategy: 'cost_reduction',
    canaryArm: opts.canaryArm ?? 'small',
    baselineArm: 'big',
    fromVersion: 1,
    fromWeights: { big: 10000 },
    stages: rolloutStages(policy.rollout),
    maxBakeExtensions: policy.rollout.max_bake_extensions,
    minSamplesPerArm: policy.rollout.min_samples_per_arm,
    taskQueues: t.taskQueues,
  };
  return { target, input, workflowId: `rollout-${target}-${decision.id}` };
}

/** A draft moving all of `big`'s traffic to `small` on the default segment, as the coordinator would. */
export function switchDraft(target: string, requiresApproval: boolean): DecisionDraft {
  return {
    target,
    segment: 'default',
    strategy: 'cost_reduction',
    kind: 'model_switch',
    from_version: 1,
    from_weights: { big: 10000 },
    to_weights: { small: 10000 },
    canary_arm: 'small',
    baseline_arm: 'big',
    expected_impact: { cost: { relative: -0.8, low: -0.85, high: -0.75 }, latency: null, quality: null },
    confidence: 0.9,
    safety_checks: [],
    rollback_plan: 'restore v1',
    explanation: 'small is 80% cheaper at equal quality',
    requires_approval: requiresApproval,
  };
}

/** A target with all traffic on `big` at v1 and the given rollout preset. */
export async function seedTarget(
  t: RolloutTestEnv,
  preset: 'conservative' | 'balanced' = 'balanced',
): Promise<string> {
  const target = uniqueName('bot');
  const policy = TargetPolicy.parse({ rollout: { preset, bake_seconds: 3600 } });
  await t.repos.targets.create({
    name: target,
    description: '',
    policy,
    arms: ARMS,
    segments: ['default'],
    weights: { big: 10000 },
  });
  return target;
}
