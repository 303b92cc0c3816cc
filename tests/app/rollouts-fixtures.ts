/**
 * Rollouts for the service-layer tests: a real canary run held at a gated stage, and a rollout promoted
 * to v2 (its row and its config version as the canary leaves them) for revert, without a judge to script.
 */
import { randomUUID } from 'node:crypto';
import { WORKFLOW_TYPES } from '../../domain/names';
import { createRolloutsRepo } from '../../adapters/db/repos/rollouts';
import { createTargetsRepo } from '../../adapters/db/repos/targets';
import { eventually } from '../helpers/env';
import { seedApprovedRollout, seedTarget, switchDraft } from '../helpers/rollout';
import { call, type TestSystem } from '../helpers/system';

/** Starts a canary run whose only stage waits for a person, and waits until it does. */
export async function startGatedRollout(
  sys: TestSystem,
  prefix: string,
): Promise<{ id: string; target: string }> {
  const target = await seedTarget(sys.deps.repos, { prefix });
  const { input, workflowId } = await seedApprovedRollout(sys.deps.repos, target, sys.taskQueues, {
    // An hour's bake after the approval: the run holds still while the test steers it.
    overrides: {
      stages: [{ canary_bps: 500, bake_seconds: 3600, requires_approval: true }],
      maxBakeExtensions: 0,
    },
  });
  await sys.client.workflow.start(WORKFLOW_TYPES.canaryRollout, {
    workflowId,
    taskQueue: sys.taskQueues.orchestration,
    args: [input],
  });
  await eventually(
    async () =>
      (await call(sys, 'GET', `/v1/rollouts/${workflowId}`)).body.workflow?.awaiting_approval_stage === 0,
    { what: `${workflowId} to await approval of stage 0` },
  );
  return { id: workflowId, target };
}

/** A rollout of `small` over `big` promoted as v2 of a target at v1, as the canary run records it. */
export async function seedPromotedRollout(
  sys: TestSystem,
  prefix: string,
): Promise<{ id: string; target: string }> {
  const target = await seedTarget(sys.deps.repos, { prefix });
  const decision = await sys.deps.repos.decisions.insert({
    ...switchDraft(target, false),
    id: randomUUID(),
    status: 'applied',
    cycle_id: null,
    rollout_id: null,
  });
  const id = `rollout-${target}-${decision.id}`;
  const rollouts = createRolloutsRepo(sys.deps.db);
  await rollouts.create({
    id,
    decision_id: decision.id,
    target,
    segment: 'default',
    strategy: 'cost_reduction',
    canary_arm: 'small',
    baseline_arm: 'big',
    stages: [{ canary_bps: 10000, bake_seconds: 60, requires_approval: false }],
    from_version: 1,
  });
  const promoted = await createTargetsRepo(sys.deps.db).appendConfig({
    target,
    segment: 'default',
    expectedVersion: 1,
    weights: { small: 10000 },
    rolloutId: id,
    reason: `promote small to 100% (decision ${decision.id})`,
  });
  await rollouts.update(id, {
    state: 'promoted',
    current_stage: 0,
    weights: promoted.weights,
    to_version: promoted.version,
    reason: 'all 1 stages passed',
  });
  return { id, target };
}

/** The routing config `target` serves now: its version and weights. */
export async function servedConfig(sys: TestSystem, target: string) {
  const c = await createTargetsRepo(sys.deps.db).currentConfig(target, 'default');
  return { version: c?.version, weights: c?.weights };
}

/** A fresh id for a rollout that does not exist. */
export const missingRollout = () => `rollout-none-${randomUUID()}`;

/**
 * Terminates every run still open on the system's task queues: once the file's worker stops, a run left
 * open would answer "no worker" to anyone who finds it in the shared database (the OpenAPI fuzzer does).
 */
export async function endOpenRuns(sys: TestSystem): Promise<void> {
  const query = `TaskQueue="${sys.taskQueues.orchestration}" AND ExecutionStatus="Running"`;
  for await (const run of sys.client.workflow.list({ query }))
    await sys.client.workflow
      .getHandle(run.workflowId)
      .terminate('the test file ended')
      .catch(() => undefined);
}
