/**
 * canaryRollout and rollback on the time-skipping test server: hour-long bakes pass in seconds, and
 * pause, resume, abort and approve each change the outcome as documented in workflows/messages.ts.
 */
import { WorkflowFailedError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WORKFLOW_TYPES } from '../../domain/names';
import {
  abortRolloutSignal,
  approveStageUpdate,
  pauseRolloutSignal,
  resumeRolloutSignal,
  rolloutStatusQuery,
  type RolloutInput,
  type RolloutResult,
} from '../../workflows/contracts';
import { eventually } from '../helpers/env';
import { seedRollout, startRolloutEnv, type RolloutTestEnv } from './rollout-env';

let t: RolloutTestEnv;
beforeAll(async () => {
  t = await startRolloutEnv();
});
afterAll(async () => {
  await t?.stop();
});

function start(input: RolloutInput, workflowId: string) {
  return t.env.client.workflow.start<(i: RolloutInput) => Promise<RolloutResult>>(
    WORKFLOW_TYPES.canaryRollout,
    {
      workflowId,
      taskQueue: t.taskQueues.orchestration,
      args: [input],
    },
  );
}

const history = async (target: string) =>
  (await t.repos.targets.configHistory(target, 'default', 50)).reverse();

describe('canaryRollout', () => {
  it('promotes a passing canary through five conservative stages with hour-long bakes', async () => {
    const { target, input, workflowId } = await seedRollout(t, { preset: 'conservative', bakeSeconds: 3600 });
    const result = await (await start(input, workflowId)).result();

    expect(result.state).toBe('promoted');
    const configs = await history(target);
    expect(configs.map((c) => c.weights.small ?? 0)).toEqual([0, 100, 500, 2500, 5000, 10000]);
    expect(configs.slice(1).every((c) => c.rollout_id === workflowId)).toBe(true);
    expect(t.judged.get(target)).toHaveLength(5);
    // Each stage is judged on its own window: from the stage's start to the end of its hour-long bake.
    for (const j of t.judged.get(target)!)
      expect(Date.parse(j.to) - Date.parse(j.from)).toBeGreaterThanOrEqual(3600_000);
    // At 100% the baseline serves nothing in the stage's window: it is judged on its last one (stage 4's).
    const judged = t.judged.get(target)!;
    expect(judged.slice(0, 4).every((j) => j.baselineWindow === undefined)).toBe(true);
    expect(judged[4]!.baselineWindow).toEqual({ from: judged[3]!.from, to: judged[3]!.to });

    const row = await t.repos.rollouts.get(workflowId);
    expect(row).toMatchObject({ state: 'promoted', current_stage: 4, to_version: 6, from_version: 1 });
    expect(row!.verdicts).toHaveLength(5);
    expect((await t.repos.decisions.require(input.decisionId)).status).toBe('applied');
    const events = await t.repos.events.list({ target, limit: 20 });
    expect(events.map((e) => e.type).sort()).toEqual(
      [
        'rollout.promoted',
        'rollout.stage_promoted',
        'rollout.stage_promoted',
        'rollout.stage_promoted',
        'rollout.stage_promoted',
        'rollout.stage_promoted',
        'rollout.started',
      ].sort(),
    );
    expect(events.map((e) => e.id)).toContain(`${workflowId}:stage-2-promoted`);
  });

  it('rolls back a failing stage to the exact previous version as a new version, in its own run', async () => {
    const { target, input, workflowId } = await seedRollout(t);
    t.script.set(target, ['pass', 'pass', 'fail']);
    const result = await (await start(input, workflowId)).result();

    expect(result.state).toBe('rolled_back');
    // Stages are numbered from 0 in every text and payload, as on the API: the third stage is stage 2.
    expect(result.reason).toContain('stage 2 failed');
    const configs = await history(target);
    expect(configs.map((c) => c.version)).toEqual([1, 2, 3, 4, 5]);
    expect(configs.at(-1)!.weights).toEqual(configs[0]!.weights);
    expect(configs.at(-1)!.reason).toContain('rollback to v1');
    const rb = await t.env.client.workflow.getHandle(`rollback-${target}-default-v1`).describe();
    expect(rb.status.name).toBe('COMPLETED');
    expect((await t.repos.rollouts.get(workflowId))!.state).toBe('rolled_back');
    expect((await t.repos.decisions.require(input.decisionId)).status).toBe('rolled_back');
    expect((await t.repos.events.list({ target, type: 'rollout.rolled_back', limit: 5 })).length).toBe(1);
  });

  it('extends the bake on a marginal verdict and promotes when the next verdict passes', async () => {
    const { target, input, workflowId } = await seedRollout(t, { preset: 'balanced' });
    t.script.set(target, ['marginal', 'pass']);
    const result = await (await start(input, workflowId)).result();
    expect(result.state).toBe('promoted');
    expect(result.verdicts.filter((v) => v.stage === 0).map((v) => v.outcome)).toEqual(['marginal', 'pass']);
  });

  it('rolls back a canary that stays inconclusive beyond the bake-extension limit', async () => {
    const { target, input, workflowId } = await seedRollout(t, { preset: 'balanced', maxBakeExtensions: 1 });
    t.script.set(target, ['marginal', 'marginal']);
    const result = await (await start(input, workflowId)).result();
    expect(result.state).toBe('rolled_back');
    expect(result.reason).toContain('inconclusive');
    expect((await history(target)).at(-1)!.weights).toEqual({ big: 10000 });
  });

  it('holds while paused, past any bake, and continues to promotion on resume', async () => {
    const { target, input, workflowId } = await seedRollout(t, { preset: 'balanced', bakeSeconds: 600 });
    const handle = await start(input, workflowId);
    await handle.signal(pauseRolloutSignal, { by: 'ops' });
    await handle.signal(pauseRolloutSignal, { by: 'ops' }); // a second pause is a no-op
    await t.env.sleep('5 hours');
    const paused = await eventually(async () => {
      const s = await handle.query(rolloutStatusQuery);
      return s.state === 'paused' ? s : undefined;
    });
    expect(paused.verdicts).toHaveLength(0);
    expect(t.judged.get(target) ?? []).toHaveLength(0);
    expect((await t.repos.rollouts.get(workflowId))!.state).toBe('paused');

    await handle.signal(resumeRolloutSignal, {});
    await handle.signal(resumeRolloutSignal, {}); // resume when not paused is a no-op
    expect((await handle.result()).state).toBe('promoted');
    expect(t.judged.get(target)).toHaveLength(4);
  });

  it('rolls back on abort during a bake and ends aborted; abort after completion is refused', async () => {
    const { target, input, workflowId } = await seedRollout(t);
    const handle = await start(input, workflowId);
    await eventually(async () => (await handle.query(rolloutStatusQuery)).weights !== null);
    await handle.signal(abortRolloutSignal, { by: 'ops', reason: 'customer escalation' });
    const result = await handle.result();

    expect(result.state).toBe('aborted');
    expect(result.reason).toBe('aborted by ops: customer escalation');
    const configs = await history(target);
    expect(configs.at(-1)!.weights).toEqual({ big: 10000 });
    expect(configs.at(-1)!.version).toBe(3);
    expect(t.judged.get(target) ?? []).toHaveLength(0);
    expect((await t.repos.rollouts.get(workflowId))!.state).toBe('aborted');
    await expect(handle.signal(abortRolloutSignal, {})).rejects.toThrow(/completed|not found/i);
  });

  it('waits for approval of a stage that requires it and rejects an approval nothing awaits', async () => {
    const { target, input, workflowId } = await seedRollout(t, { preset: 'balanced', approvalStages: [1] });
    const handle = await start(input, workflowId);
    const early = handle.executeUpdate(approveStageUpdate, { args: [{ by: 'ops' }] });
    await expect(early).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
    await expect(early).rejects.toMatchObject({
      cause: { message: expect.stringMatching(/nothing awaits approval/) },
    });

    await t.env.sleep('2 hours');
    const waiting = await eventually(async () => {
      const s = await handle.query(rolloutStatusQuery);
      return s.awaitingApproval === 1 ? s : undefined;
    });
    expect(waiting.state).toBe('awaiting_approval');
    expect((await history(target)).at(-1)!.weights.small).toBe(500);
    await t.env.sleep('10 hours');
    expect((await handle.query(rolloutStatusQuery)).awaitingApproval).toBe(1);

    await expect(handle.executeUpdate(approveStageUpdate, { args: [{ stage: 3 }] })).rejects.toBeInstanceOf(
      WorkflowUpdateFailedError,
    );
    expect(await handle.executeUpdate(approveStageUpdate, { args: [{ stage: 1, by: 'ops' }] })).toEqual({
      stage: 1,
      approved: true,
    });
    expect((await handle.result()).state).toBe('promoted');
  });

  it('fails the run with InvalidConfig when the decision names an arm the target does not have', async () => {
    const { input, workflowId } = await seedRollout(t, { canaryArm: 'ghost' });
    const err = await (await start(input, workflowId)).result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toMatchObject({ type: 'InvalidConfig' });
    expect((err as WorkflowFailedError).cause?.message).toContain('ghost');
    expect((await t.repos.rollouts.get(workflowId))!.state).toBe('failed');
  });

  it('refuses a second active rollout of the same target and segment (database constraint)', async () => {
    const first = await seedRollout(t, { approvalStages: [0] });
    const h1 = await start(first.input, first.workflowId);
    await eventually(async () => (await h1.query(rolloutStatusQuery)).state === 'awaiting_approval');
    const decision2 = await t.repos.decisions.insert({
      ...(await t.repos.decisions.require(first.input.decisionId)),
      id: crypto.randomUUID(),
      status: 'approved',
    });
    const second = { ...first.input, decisionId: decision2.id };
    const err = await (
      await start(second, `rollout-${first.target}-${decision2.id}`)
    )
      .result()
      .catch((e: unknown) => e);
    expect((err as WorkflowFailedError).cause).toMatchObject({ type: 'RolloutConflict' });
    expect((err as WorkflowFailedError).cause?.message).toContain(first.workflowId);
    // While the test awaited the second run, the time-skipping server may have run the first one's approval
    // wait out; either way it must end without promoting a stage nobody approved.
    await h1.signal(abortRolloutSignal, { reason: 'test over' }).catch((e: unknown) => {
      if (!(e instanceof WorkflowNotFoundError)) throw e;
    });
    // A run that waits forever for an approval is ended by the test server's execution timeout once time
    // skips past it: also not a promotion.
    const outcome = await h1.result().then(
      (r) => r.state,
      (e: unknown) => {
        if (e instanceof WorkflowFailedError) return 'timed_out';
        throw e;
      },
    );
    expect(outcome).not.toBe('promoted');
  });
});
