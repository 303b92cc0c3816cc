/**
 * optimizationCycle → canaryRollout on the time-skipping server: an approved decision starts its
 * rollout as a child that outlives the cycle; a decision that needs a person waits for the approval
 * update (as long as the target policy's approval window, the run's timeout derived from it), and is
 * rejected, or expires without a rollout and the run completes, otherwise.
 */
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WORKFLOW_TYPES } from '../../domain/names';
import {
  decideApprovalUpdate,
  promptProposalWorkflowId,
  type CycleInput,
  type CycleResult,
  type CycleStatus,
  type ProposalOutcome,
  type RolloutResult,
} from '../../workflows/contracts';
import { eventually, uniqueName } from '../helpers/env';
import { cycleExecutionTimeoutMs, TargetPolicy, type DecisionDraft } from '../../domain/model';
import { seedTarget as seedTargetWith, switchDraft } from '../helpers/rollout';
import { seedTarget, startRolloutEnv, type RolloutTestEnv } from './rollout-env';

// A fresh time-skipping server per test: the day-long health watch a promoted rollout starts must not
// hold the next test's clock.
let t: RolloutTestEnv;
beforeEach(async () => {
  t = await startRolloutEnv();
});
afterEach(async () => {
  await t?.stop();
});

function startCycle(target: string, extra: Partial<CycleInput> = {}, executionTimeoutMs?: number) {
  return t.env.client.workflow.start<(i: CycleInput) => Promise<CycleResult>>(
    WORKFLOW_TYPES.optimizationCycle,
    {
      workflowId: uniqueName(`cycle-${target}`),
      taskQueue: t.taskQueues.orchestration,
      // Prompt proposals have their own test (tests/integrations/prompt-proposal.test.ts); see CycleInput.
      args: [{ target, trigger: 'api', taskQueues: t.taskQueues, draftPromptVariants: false, ...extra }],
      ...(executionTimeoutMs ? { workflowExecutionTimeout: executionTimeoutMs } : {}),
    },
  );
}

describe('optimizationCycle', { timeout: 180_000 }, () => {
  it('starts a canaryRollout child for an approved decision, which promotes it', async () => {
    const target = await seedTarget(t);
    t.drafts.set(target, [switchDraft(target, false)]);
    const cycle = await (await startCycle(target)).result();

    const decision = cycle.decisions[0]!;
    expect(cycle.rolloutIds).toEqual([`rollout-${target}-${decision.id}`]);
    const rollout = await t.env.client.workflow
      .getHandle<() => Promise<RolloutResult>>(cycle.rolloutIds![0]!)
      .result();
    expect(rollout.state).toBe('promoted');
    expect((await t.repos.targets.currentConfig(target, 'default'))!.weights).toEqual({ small: 10000 });
    expect((await t.repos.decisions.require(decision.id)).status).toBe('applied');
    expect((await t.repos.events.list({ target, type: 'decision.created', limit: 5 })).length).toBe(1);
  });

  it('applies an exploration re-spread as its weights at once, with no rollout', async () => {
    const target = await seedTarget(t);
    t.drafts.set(target, [
      {
        ...switchDraft(target, false),
        strategy: 'model_selection',
        kind: 'exploration',
        to_weights: { big: 9000, small: 1000 },
      },
    ]);
    const cycle = await (await startCycle(target)).result();

    expect(cycle.rolloutIds).toEqual([]);
    const decision = cycle.decisions[0]!;
    expect(decision.status).toBe('applied');
    const cfg = (await t.repos.targets.currentConfig(target, 'default'))!;
    // The explored arm gets the exploration share and no more: the primary arm stays.
    expect(cfg).toMatchObject({ version: 2, weights: { big: 9000, small: 1000 } });
    expect(cfg.reason).toContain(decision.id);
  });

  it('supersedes an exploration whose config changed since the decision', async () => {
    const target = await seedTarget(t);
    await t.repos.targets.appendConfig({
      target,
      segment: 'default',
      expectedVersion: 1,
      weights: { big: 10000 },
      rolloutId: null,
      reason: 'a person changed it by hand',
    });
    t.drafts.set(target, [
      { ...switchDraft(target, false), kind: 'exploration', to_weights: { big: 9000, small: 1000 } },
    ]);
    const cycle = await (await startCycle(target)).result();
    expect(cycle.decisions[0]!.status).toBe('superseded');
    expect((await t.repos.targets.currentConfig(target, 'default'))!.version).toBe(2);
  });

  it('waits for approval of a decision that needs a person, then rolls it out', async () => {
    const target = await seedTarget(t);
    t.drafts.set(target, [switchDraft(target, true)]);
    const handle = await startCycle(target);
    const status = await eventually(async () => {
      const s = await handle.query<CycleStatus>('cycleStatus');
      return s.phase === 'awaiting_approval' ? s : undefined;
    });
    const decisionId = status.awaitingApproval![0]!;
    expect((await t.repos.decisions.require(decisionId)).status).toBe('awaiting_approval');

    const wrong = handle.executeUpdate(decideApprovalUpdate, {
      args: [{ decisionId: crypto.randomUUID(), approve: true }],
    });
    await expect(wrong).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
    expect(
      await handle.executeUpdate(decideApprovalUpdate, { args: [{ decisionId, approve: true, by: 'ops' }] }),
    ).toEqual({
      decisionId,
      status: 'approved',
    });
    const cycle = await handle.result();
    expect(cycle.rolloutIds).toEqual([`rollout-${target}-${decisionId}`]);
    const rollout = await t.env.client.workflow
      .getHandle<() => Promise<RolloutResult>>(cycle.rolloutIds![0]!)
      .result();
    expect(rollout.state).toBe('promoted');
  });

  it('records a rejection and starts no rollout', async () => {
    const target = await seedTarget(t);
    t.drafts.set(target, [switchDraft(target, true)]);
    const handle = await startCycle(target);
    const { awaitingApproval } = await eventually(async () => {
      const s = await handle.query<CycleStatus>('cycleStatus');
      return s.phase === 'awaiting_approval' ? s : undefined;
    });
    await handle.executeUpdate(decideApprovalUpdate, {
      args: [{ decisionId: awaitingApproval![0]!, approve: false, reason: 'not this week' }],
    });
    const cycle = await handle.result();
    expect(cycle.rolloutIds).toEqual([]);
    expect(cycle.decisions[0]!.status).toBe('rejected');
    expect((await t.repos.targets.currentConfig(target, 'default'))!.version).toBe(1);
  });

  it('expires a decision nobody answered within the approval window and completes the run', async () => {
    const target = await seedTarget(t);
    t.drafts.set(target, [switchDraft(target, true)]);
    const handle = await startCycle(target, { approvalWindowSeconds: 3600 });
    const cycle = await handle.result();
    expect(cycle.decisions[0]!.status).toBe('expired');
    expect((await t.repos.decisions.require(cycle.decisions[0]!.id)).status).toBe('expired');
    expect(cycle.rolloutIds).toEqual([]);
    expect((await handle.describe()).status.name).toBe('COMPLETED');
  });

  it("waits as long as the target policy's approval_timeout_seconds, beyond the old one-hour cap", async () => {
    const policy = { approval_timeout_seconds: 2 * 86_400, rollout: { preset: 'balanced' } };
    const target = await seedTargetWith(t.repos, { policy });
    t.drafts.set(target, [switchDraft(target, true)]);
    // Started as the API starts it: the execution timeout derived from the policy.
    const handle = await startCycle(target, {}, cycleExecutionTimeoutMs(TargetPolicy.parse(policy)));
    const cycle = await handle.result();
    expect(cycle.decisions[0]!.status).toBe('expired');
    const d = await handle.describe();
    expect(d.status.name).toBe('COMPLETED');
    expect(d.closeTime!.getTime() - d.startTime.getTime()).toBeGreaterThanOrEqual(2 * 86_400_000);
  });

  it('expires the decision before a shorter execution timeout would time the run out', async () => {
    const target = await seedTargetWith(t.repos, { policy: { approval_timeout_seconds: 86_400 } });
    t.drafts.set(target, [switchDraft(target, true)]);
    const handle = await startCycle(target, {}, 2 * 3600_000);
    const cycle = await handle.result();
    expect(cycle.decisions[0]!.status).toBe('expired');
    const d = await handle.describe();
    expect(d.status.name).toBe('COMPLETED');
    expect(d.closeTime!.getTime() - d.startTime.getTime()).toBeLessThan(2 * 3600_000);
  });
});

describe('prompt proposals started by the cycle', { timeout: 180_000 }, () => {
  const proposal = (cycleId: string) =>
    t.env.client.workflow.getHandle<() => Promise<ProposalOutcome[]>>(promptProposalWorkflowId(cycleId));

  it('starts no draftPromptVariants when no segment has anything to propose', async () => {
    // Default policy (min_live_variants 0) and no concluded experiment: the real decision is no_action.
    const target = await seedTarget(t);
    const handle = await startCycle(target, { draftPromptVariants: true });
    const cycle = await handle.result();
    expect(cycle.decisions.map((d) => d.kind)).toEqual(['no_action']);
    await expect(proposal(handle.workflowId).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    expect(t.proposals).toEqual([]);
  });

  it('starts it for a segment with fewer live prompt variants than the policy asks', async () => {
    const target = await seedTargetWith(t.repos, { policy: { prompt_proposals: { min_live_variants: 2 } } });
    const handle = await startCycle(target, { draftPromptVariants: true });
    await handle.result();
    expect(await proposal(handle.workflowId).result()).toEqual([
      expect.objectContaining({ segment: 'default', status: 'skipped' }),
    ]);
    expect(t.proposals).toEqual([
      { target, cycleId: handle.workflowId, segments: [{ segment: 'default' }], minLiveVariants: 2 },
    ]);
  });

  it('starts it for the winner of a concluded prompt experiment', async () => {
    const target = await seedTarget(t);
    const concluded = {
      ...switchDraft(target, false),
      strategy: 'prompt_optimization',
      kind: 'prompt_variant',
      // No routing change to roll out: the experiment's result is what is under test.
      from_version: null,
    } as DecisionDraft;
    t.drafts.set(target, [concluded]);
    const handle = await startCycle(target, { draftPromptVariants: true });
    const cycle = await handle.result();
    await proposal(handle.workflowId).result();
    expect(t.proposals).toEqual([
      {
        target,
        cycleId: handle.workflowId,
        segments: [{ segment: 'default', winner: 'small', decisionId: cycle.decisions[0]!.id }],
        minLiveVariants: 0,
      },
    ]);
  });
});
