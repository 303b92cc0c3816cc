/**
 * healthWatch on the time-skipping server: after a promotion it keeps judging the promoted arm against
 * the pre-change baseline and the target's SLOs, and rolls back when either degrades in two consecutive
 * checks (restoring the exact pre-rollout weights); a single noisy window does not roll back; it ends
 * healthy when nothing degrades, and never overwrites a config someone changed after the promotion.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WORKFLOW_TYPES } from '../../domain/names';
import type { HealthWatchResult, RolloutInput, RolloutResult } from '../../workflows/contracts';
import { seedRollout, startRolloutEnv, type RolloutTestEnv } from './rollout-env';

// A fresh time-skipping server per test: a watch left from one test must not hold the next one's clock.
let t: RolloutTestEnv;
beforeEach(async () => {
  t = await startRolloutEnv();
});
afterEach(async () => {
  await t?.stop();
});

async function promote(outcomes: ('pass' | 'fail')[], slos: ('ok' | 'breach')[] = []) {
  const seeded = await seedRollout(t, { preset: 'balanced' });
  t.script.set(seeded.target, ['pass', 'pass', 'pass', 'pass', ...outcomes]);
  t.slos.set(seeded.target, slos);
  const input: RolloutInput = {
    ...seeded.input,
    healthWatch: { intervalSeconds: 3600, durationSeconds: 6 * 3600 },
  };
  const rollout = await t.env.client.workflow.execute<(i: RolloutInput) => Promise<RolloutResult>>(
    WORKFLOW_TYPES.canaryRollout,
    {
      workflowId: seeded.workflowId,
      taskQueue: t.taskQueues.orchestration,
      args: [input],
    },
  );
  expect(rollout.state).toBe('promoted');
  return {
    ...seeded,
    watch: t.env.client.workflow.getHandle<() => Promise<HealthWatchResult>>(`health-${seeded.target}`),
  };
}

describe('healthWatch', { timeout: 120_000 }, () => {
  it('rolls back a promoted change that degrades later, to the exact pre-rollout weights', async () => {
    const { target, workflowId, watch } = await promote(['pass', 'fail', 'fail']);
    const result = await watch.result();
    expect(result).toMatchObject({ outcome: 'rolled_back', checks: 3 });
    const current = await t.repos.targets.currentConfig(target, 'default');
    expect(current!.weights).toEqual({ big: 10000 });
    expect(current!.reason).toContain('health_watch');
    expect((await t.repos.rollouts.get(workflowId))!.state).toBe('rolled_back');
    expect((await t.repos.events.list({ target, type: 'anomaly.detected', limit: 5 })).length).toBe(1);
    // The baseline is the pre-change window: it ends where the rollout began, before any canary traffic.
    const judged = t.judged.get(target)!.at(-1)!;
    expect(Date.parse(judged.baselineWindow!.to)).toBeLessThanOrEqual(
      Date.parse(t.judged.get(target)![0]!.from),
    );
  });

  it('rolls back on an SLO breach that persists although the baseline comparison passes', async () => {
    const { target, workflowId, watch } = await promote([], ['ok', 'breach', 'breach']);
    const result = await watch.result();
    expect(result).toMatchObject({ outcome: 'rolled_back', checks: 3 });
    expect(result.reason).toMatch(/2 consecutive degraded checks.*SLO breached: .*latency p95/);
    // Every check passed the judge: the rollback is the SLO's alone.
    expect(t.script.get(target)).toEqual([]);
    const current = await t.repos.targets.currentConfig(target, 'default');
    expect(current!.weights).toEqual({ big: 10000 });
    expect(current!.reason).toContain('health_watch');
    expect((await t.repos.rollouts.get(workflowId))!.state).toBe('rolled_back');
    const [anomaly] = await t.repos.events.list({ target, type: 'anomaly.detected', limit: 5 });
    expect(anomaly!.data).toMatchObject({ slo: { outcome: 'breach' } });
  });

  it('does not roll back for degraded checks that never repeat back to back', async () => {
    const { target, watch } = await promote(
      ['fail', 'pass', 'pass', 'pass', 'fail', 'pass'],
      ['ok', 'ok', 'breach', 'ok', 'ok', 'ok'],
    );
    expect(await watch.result()).toMatchObject({ outcome: 'healthy', checks: 6 });
    expect((await t.repos.targets.currentConfig(target, 'default'))!.weights).toEqual({ small: 10000 });
    expect(await t.repos.events.list({ target, type: 'anomaly.detected', limit: 5 })).toEqual([]);
  });

  it('ends healthy when nothing degrades during the watch', async () => {
    const { target, watch } = await promote([]);
    expect(await watch.result()).toMatchObject({ outcome: 'healthy', checks: 6 });
    expect((await t.repos.targets.currentConfig(target, 'default'))!.weights).toEqual({ small: 10000 });
  });

  it('does not overwrite a config someone changed after the promotion', async () => {
    const { target, watch } = await promote(['fail', 'fail']);
    const current = (await t.repos.targets.currentConfig(target, 'default'))!;
    await t.repos.targets.appendConfig({
      target,
      segment: 'default',
      expectedVersion: current.version,
      weights: { big: 5000, small: 5000 },
      rolloutId: null,
      reason: 'manual split',
    });
    expect((await watch.result()).outcome).toBe('superseded');
    expect((await t.repos.targets.currentConfig(target, 'default'))!.weights).toEqual({
      big: 5000,
      small: 5000,
    });
  });
});
