/**
 * The rollouts and decisions API over the real dev server and database: read a running rollout from
 * Temporal and PostgreSQL, steer it with pause/resume/approve/abort, and get a clear 409 for anything
 * that does not apply, including a second change for a target and segment with a rollout running.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WORKFLOW_TYPES } from '../../domain/names';
import { createDecisionsRepo } from '../../adapters/db/repos/decisions';
import type { RolloutInput } from '../../workflows/messages';
import { eventually, uniqueName } from '../helpers/env';
import { call, startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem();
});
afterAll(async () => {
  await sys?.stop();
});

const arms = [
  { id: 'big', provider: 'openai', model: 'gpt-4o' },
  { id: 'small', provider: 'openai', model: 'gpt-4o-mini' },
];

async function decision(
  target: string,
  status: 'approved' | 'awaiting_approval',
  cycleId: string | null = null,
) {
  return createDecisionsRepo(sys.deps.db).insert({
    id: crypto.randomUUID(),
    target,
    segment: 'default',
    strategy: 'cost_reduction',
    kind: 'model_switch',
    status,
    from_version: 1,
    from_weights: { big: 10000 },
    to_weights: { small: 10000 },
    canary_arm: 'small',
    baseline_arm: 'big',
    expected_impact: { cost: null, latency: null, quality: null },
    confidence: 0.9,
    safety_checks: [],
    rollback_plan: 'restore v1',
    explanation: 'cheaper',
    cycle_id: cycleId,
    rollout_id: null,
  });
}

describe('rollouts API', () => {
  it('reads, pauses, resumes, approves and aborts a rollout; refuses what does not apply', async () => {
    const target = uniqueName('api-bot');
    expect((await call(sys, 'POST', '/v1/targets', { name: target, arms })).status).toBe(201);
    const d = await decision(target, 'approved');
    const id = `rollout-${target}-${d.id}`;
    const input: RolloutInput = {
      decisionId: d.id,
      target,
      segment: 'default',
      strategy: 'cost_reduction',
      canaryArm: 'small',
      baselineArm: 'big',
      fromVersion: 1,
      fromWeights: { big: 10000 },
      // Stage 1 waits for a person, so the run holds still while the API steers it.
      stages: [{ canary_bps: 500, bake_seconds: 3600, requires_approval: true }],
      maxBakeExtensions: 0,
      minSamplesPerArm: 100,
      taskQueues: sys.taskQueues,
    };
    await sys.client.workflow.start(WORKFLOW_TYPES.canaryRollout, {
      workflowId: id,
      taskQueue: sys.taskQueues.orchestration,
      args: [input],
    });

    const waiting = await eventually(
      async () => {
        const r = await call(sys, 'GET', `/v1/rollouts/${id}`);
        return r.status === 200 && r.body.workflow.awaiting_approval_stage === 0 ? r : undefined;
      },
      { what: 'the rollout to await approval' },
    );
    expect(waiting.body).toMatchObject({
      id,
      target,
      decision_id: d.id,
      state: 'awaiting_approval',
      from_version: 1,
    });
    expect(waiting.body.workflow.temporal_ui_url).toContain(encodeURIComponent(id));

    const listed = await call(sys, 'GET', `/v1/rollouts?target=${target}&state=awaiting_approval`);
    expect(listed.body.items.map((r: { id: string }) => r.id)).toEqual([id]);
    expect((await call(sys, 'GET', `/v1/rollouts?target=${target}&state=promoted`)).body.items).toEqual([]);
    expect((await call(sys, 'GET', '/v1/rollouts?state=nope')).status).toBe(400);

    const resume = await call(sys, 'POST', `/v1/rollouts/${id}/resume`, {});
    expect(resume.status).toBe(409);
    expect(resume.body.detail).toContain('not paused');
    expect((await call(sys, 'POST', `/v1/rollouts/${id}/pause`, { reason: 'look' })).status).toBe(202);
    await eventually(
      async () => (await call(sys, 'GET', `/v1/rollouts/${id}`)).body.workflow.paused === true,
    );
    expect((await call(sys, 'POST', `/v1/rollouts/${id}/pause`, {})).status).toBe(409);
    expect((await call(sys, 'POST', `/v1/rollouts/${id}/resume`, {})).status).toBe(202);

    const wrongStage = await call(sys, 'POST', `/v1/rollouts/${id}/approve`, { stage: 3 });
    expect(wrongStage.status).toBe(409);
    expect(wrongStage.body.detail).toContain('stage 3 does not await approval');

    // One change at a time: approving another decision for the same target and segment is refused.
    const other = await decision(target, 'awaiting_approval', uniqueName('cycle-unused'));
    const second = await call(sys, 'POST', `/v1/decisions/${other.id}/approve`, {});
    expect(second.status).toBe(409);
    expect(second.body.running_id).toBe(id);

    // Stages are 0-based indexes, as in `stages` and `current_stage`; the approver is the caller.
    expect((await call(sys, 'POST', `/v1/rollouts/${id}/approve`, { stage: 0 })).body).toEqual({
      id,
      stage: 0,
      approved: true,
      approved_by: expect.stringMatching(/^test admin /),
    });
    await eventually(async () => (await call(sys, 'GET', `/v1/rollouts/${id}`)).body.weights?.small === 500, {
      what: 'stage 1 weights',
    });
    const again = await call(sys, 'POST', `/v1/rollouts/${id}/approve`, {});
    expect(again.status).toBe(409);
    expect(again.body.detail).toContain('nothing awaits approval');

    expect((await call(sys, 'POST', `/v1/rollouts/${id}/abort`, { reason: 'test' })).status).toBe(202);
    const aborted = await eventually(
      async () => {
        const r = await call(sys, 'GET', `/v1/rollouts/${id}`);
        return r.body.state === 'aborted' && r.body.workflow.status === 'completed' ? r : undefined;
      },
      { what: 'the abort to complete', timeoutMs: 40_000 },
    );
    expect(aborted.body.reason).toMatch(/^aborted by test admin .*: test$/);
    const cfg = await call(sys, 'GET', `/v1/targets/${target}/config`);
    expect(cfg.body).toMatchObject({ version: 3, weights: { big: 10000 } });
    const late = await call(sys, 'POST', `/v1/rollouts/${id}/abort`, {});
    expect(late.status).toBe(409);
    expect(late.body.detail).toContain('aborted');
  });

  it('answers unknown and malformed rollout ids with 404 and 400', async () => {
    expect((await call(sys, 'GET', '/v1/rollouts/rollout-nope-123')).status).toBe(404);
    expect((await call(sys, 'GET', '/v1/rollouts/..%2Fetc')).status).toBe(400);
    expect((await call(sys, 'POST', '/v1/rollouts/rollout-nope-123/pause', {})).status).toBe(404);
  });
});

describe('decisions API', () => {
  it('lists by target and status, reads one, and refuses approving a decision that does not await it', async () => {
    const target = uniqueName('dec-bot');
    expect((await call(sys, 'POST', '/v1/targets', { name: target, arms })).status).toBe(201);
    const a = await decision(target, 'approved');
    const listed = await call(sys, 'GET', `/v1/decisions?target=${target}&status=approved`);
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((x: { id: string }) => x.id)).toEqual([a.id]);
    expect((await call(sys, 'GET', `/v1/decisions/${a.id}`)).body).toMatchObject({
      id: a.id,
      kind: 'model_switch',
    });
    expect((await call(sys, 'GET', `/v1/decisions/${crypto.randomUUID()}`)).status).toBe(404);
    const bad = await call(sys, 'GET', '/v1/decisions/not-a-uuid');
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].path).toBe('param.id');
    const refused = await call(sys, 'POST', `/v1/decisions/${a.id}/approve`, {});
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toContain('does not await approval');
  });

  it('refuses to reject a no_action decision of a finished cycle with 409 naming its status', async () => {
    const target = uniqueName('appr-bot');
    expect((await call(sys, 'POST', '/v1/targets', { name: target, arms })).status).toBe(201);
    const started = await call(sys, 'POST', '/v1/optimizations', { target });
    expect(started.status).toBe(202);
    const done = await eventually(async () => {
      const r = await call(sys, 'GET', `/v1/optimizations/${started.body.id}`);
      return r.body.status === 'completed' ? r : undefined;
    });
    const d = done.body.decisions[0];
    const r = await call(sys, 'POST', `/v1/decisions/${d.id}/reject`, { reason: 'no' });
    expect(r.status).toBe(409);
    expect(r.body.decision_status).toBe('no_action');
  });
});
