/**
 * A time-skipping Temporal test server with the real orchestration activities over the real test
 * database, and scripted canary-judge and SLO outcomes on the analysis queue (the judge's statistics
 * have their own tests; here the verdict sequence is the input under test). Rollout setup itself
 * (targets, decisions, inputs, the scripted activities) is tests/helpers/rollout.ts.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import proto from '@temporalio/proto';
import type { Verdict } from '../../domain/intelligence/judge';
import type { SloCheck } from '../../domain/intelligence/slo';
import type { DecisionDraft } from '../../domain/model';
import { SEARCH_ATTRIBUTES, type TaskQueues } from '../../domain/names';
import { createOrchestrationActivities } from '../../activities/orchestration';
import { createAnalysisActivities } from '../../activities/analysis';
import type { Db } from '../../adapters/db/pool';
import { compose, type Container } from '../../app/compose';
import type { Env } from '../../platform/env';
import { createLogger } from '../../platform/logger';
import { workflowBundlePath, installRuntime } from '../../platform/temporal';
import type {
  CheckSlosInput,
  JudgeStageInput,
  ProposalOutcome,
  ProposalRequest,
  RolloutInput,
} from '../../workflows/contracts';
import { testEnv, uniqueName } from '../helpers/env';
import {
  newAnalysisScript,
  scriptedAnalysisActivities,
  seedApprovedRollout,
  seedTarget as seedTargetWith,
} from '../helpers/rollout';

export type Outcome = Verdict['outcome'];

export interface RolloutTestEnv {
  env: TestWorkflowEnvironment;
  /** The composition root every worker's activities are built from. */
  container: Container;
  db: Db;
  /** The container's repositories; `events` is its domain-events one. */
  repos: Container['repos'] & { events: Container['repos']['domainEvents'] };
  taskQueues: TaskQueues;
  /** Verdicts the judge returns per target, in order; 'pass' once a script runs out. */
  script: Map<string, Outcome[]>;
  /** SLO outcomes the health watch's check returns per target, in order; 'ok' once a script runs out. */
  slos: Map<string, SloCheck['outcome'][]>;
  /** Every judge call, per target. */
  judged: Map<string, JudgeStageInput[]>;
  /** Every SLO check, per target. */
  sloChecked: Map<string, CheckSlosInput[]>;
  /** Drafts the cycle's decideCycle returns per target (the real no_action drafts when absent). */
  drafts: Map<string, DecisionDraft[]>;
  /** Prompt-proposal requests the stand-in integrations activity received, in order. */
  proposals: ProposalRequest[];
  stop(): Promise<void>;
}

/**
 * `integrationActivities`: the activities of the integrations queue, built from the environment's
 * container; by default a stand-in whose prompt proposals answer "skipped" (a test of the real ones
 * passes them). `env`: settings over the test run's, for the container.
 */
export async function startRolloutEnv(
  opts: { integrationActivities?: (c: Container) => object; env?: Env } = {},
): Promise<RolloutTestEnv> {
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
  const suffix = uniqueName('ts');
  const taskQueues: TaskQueues = {
    orchestration: `orchestration-${suffix}`,
    analysis: `analysis-${suffix}`,
    integrations: `integrations-${suffix}`,
  };
  const container = await compose(opts.env ?? testEnv, { logger, poolMax: 5, taskQueues });
  const { db } = container;
  const r = { ...container.repos, events: container.repos.domainEvents };
  const scripted = newAnalysisScript();
  const proposals: ProposalRequest[] = [];
  const orchestration = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: taskQueues.orchestration,
    workflowBundle: { codePath: await workflowBundlePath() },
    // No integrations worker delivers here: published events are stored.
    activities: createOrchestrationActivities(container, { notify: false }),
  });
  const analysis = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: taskQueues.analysis,
    activities: scriptedAnalysisActivities(createAnalysisActivities(container), scripted),
  });
  // The cycle's abandoned prompt-proposal child runs on the integrations queue: a workflow task nobody
  // polls would hold the time-skipping clock still. Proposals are not under test here (and must not
  // reach whatever Anthropic settings other tests stored), so its activity answers "skipped".
  const integrations = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: taskQueues.integrations,
    workflowBundle: { codePath: await workflowBundlePath(logger, 'notify.ts') },
    activities: opts.integrationActivities?.(container) ?? {
      async proposePromptVariantsForCycle(input: ProposalRequest): Promise<ProposalOutcome[]> {
        proposals.push(input);
        return input.segments.map(({ segment }) => ({
          segment,
          status: 'skipped' as const,
          reason: 'prompt proposals are not under test in the rollout environment',
        }));
      },
    },
  });
  const workers = [orchestration, analysis, integrations];
  const runs = workers.map((w) => w.run());
  return {
    env,
    container,
    db,
    repos: r,
    taskQueues,
    script: scripted.verdicts,
    slos: scripted.slos,
    judged: scripted.judged,
    sloChecked: scripted.sloChecked,
    drafts: scripted.drafts,
    proposals,
    async stop() {
      for (const w of workers) w.shutdown();
      await Promise.all(runs);
      await env.teardown();
      await container.close();
    },
  };
}

/** A target at v1 with all traffic on `big`, and an approved decision to move it to `small` (or `canaryArm`). */
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
  const target = await seedTargetWith(t.repos, {
    policy: {
      rollout: {
        preset: opts.preset ?? 'conservative',
        bake_seconds: opts.bakeSeconds ?? 3600,
        approval_stages: opts.approvalStages ?? [],
        max_bake_extensions: opts.maxBakeExtensions ?? 2,
      },
    },
  });
  const seeded = await seedApprovedRollout(t.repos, target, t.taskQueues, {
    ...(opts.canaryArm ? { canary: opts.canaryArm } : {}),
  });
  return { target, ...seeded };
}

/** A target with all traffic on `big` at v1 and the given rollout preset. */
export function seedTarget(
  t: RolloutTestEnv,
  preset: 'conservative' | 'balanced' = 'balanced',
): Promise<string> {
  return seedTargetWith(t.repos, { policy: { rollout: { preset, bake_seconds: 3600 } } });
}
