/**
 * Serving changes (rate_limit, batching) rolled out for real on the time-skipping server: the cycle
 * starts a before/after canaryRollout for an approved serving decision, which writes a routing-config
 * version with the same weights and the serving override, judges the arm after the change against the
 * same arm over an equal span before it (plus the SLOs), and promotes it or restores the previous
 * version through `rollback`. The verdicts and SLO outcomes are scripted (the judge's statistics on
 * injected degradations are tests/unit/intelligence/serving-rollout.test.ts); the routing configs,
 * decisions, rollouts and events are the real database's, and the API reads and steers the run.
 */
// First: zod-openapi must extend zod before any domain schema is built (the API app is loaded here).
import '@hono/zod-openapi';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WORKFLOW_TYPES } from '../../domain/names';
import type { ServingChange } from '../../domain/model';
import {
  rolloutStatusQuery,
  type CycleInput,
  type CycleResult,
  type RolloutResult,
} from '../../workflows/contracts';
import { eventually, uniqueName } from '../helpers/env';
import { seedTarget, servingDraft, switchDraft } from '../helpers/rollout';
import { call, startTestSystem, type TestSystem } from '../helpers/system';
import type { SloCheck } from '../../domain/intelligence/slo';
import { startRolloutEnv, type Outcome, type RolloutTestEnv } from './rollout-env';

const CHANGE: ServingChange = { arm: 'big', field: 'max_concurrency', from: 16, to: 24 };
const BAKE_SECONDS = 600;

let t: RolloutTestEnv;
let api: TestSystem;
beforeAll(async () => {
  // The API only (its own workers off): it reads the database and steers runs on the test server.
  api = await startTestSystem({ workers: false });
});
afterAll(async () => {
  await api?.stop();
});
// A fresh time-skipping server per test: the day-long health watch of a promotion must not hold the
// next test's clock.
beforeEach(async () => {
  t = await startRolloutEnv();
  api.steerWith(t.env.client);
});
afterEach(async () => {
  await t?.stop();
});

/** A target whose v2 (written by ops) sets big's max_concurrency to 16; all traffic on big. */
async function seedServingTarget(policy: Record<string, unknown> = {}): Promise<string> {
  const target = await seedTarget(t.repos, {
    prefix: 'serving',
    policy: { rollout: { preset: 'balanced', bake_seconds: BAKE_SECONDS, ...policy } },
  });
  await t.repos.targets.appendConfig({
    target,
    segment: 'default',
    expectedVersion: 1,
    weights: { big: 10000 },
    serving: { big: { max_concurrency: 16 } },
    rolloutId: null,
    reason: 'ops: max_concurrency of big at 16',
  });
  return target;
}

async function runCycle(target: string): Promise<CycleResult> {
  return t.env.client.workflow.execute<(i: CycleInput) => Promise<CycleResult>>(
    WORKFLOW_TYPES.optimizationCycle,
    {
      workflowId: uniqueName(`cycle-${target}`),
      taskQueue: t.taskQueues.orchestration,
      // Prompt proposals are not under test here; see CycleInput.draftPromptVariants.
      args: [{ target, trigger: 'api', taskQueues: t.taskQueues, draftPromptVariants: false }],
    },
  );
}

/** A serving target and the cycle that decides CHANGE for it, with the verdicts and SLO outcomes scripted. */
async function decideChange(script: { verdicts?: Outcome[]; slos?: SloCheck['outcome'][] } = {}) {
  const target = await seedServingTarget();
  t.drafts.set(target, [servingDraft(target, 2, CHANGE)]);
  if (script.verdicts) t.script.set(target, script.verdicts);
  if (script.slos) t.slos.set(target, script.slos);
  return { target, cycle: await runCycle(target) };
}

const rolloutOf = (id: string) => t.env.client.workflow.getHandle<() => Promise<RolloutResult>>(id);
const config = async (target: string) => (await t.repos.targets.currentConfig(target, 'default'))!;
const eventTypes = async (target: string) =>
  (await t.repos.events.list({ target, limit: 50 })).map((e) => e.type);

describe('serving rollout', { timeout: 180_000 }, () => {
  it('applies an approved rate_limit change with the same weights, judges after against before, promotes', async () => {
    // The first bake is inconclusive: the bake is extended once and judged again.
    const { target, cycle } = await decideChange({ verdicts: ['marginal', 'pass'] });

    const decision = cycle.decisions[0]!;
    const rolloutId = `rollout-${target}-${decision.id}`;
    expect(cycle.rolloutIds).toEqual([rolloutId]);
    const rollout = rolloutOf(rolloutId);
    expect(await rollout.describe().then((d) => d.staticSummary())).toBe(
      `Set max_concurrency of arm big from 16 to 24 on ${target}/default (rate_limit, adaptive_rate_limit)`,
    );
    const result = await rollout.result();
    expect(result.state).toBe('promoted');
    expect(result.verdicts.map((v) => [v.canary_bps, v.outcome])).toEqual([
      [10000, 'marginal'],
      [10000, 'pass'],
    ]);

    // One new version: the same weights, the new serving value, owned by the rollout.
    expect(await config(target)).toMatchObject({
      version: 3,
      weights: { big: 10000 },
      serving: { big: { max_concurrency: 24 } },
      rollout_id: rolloutId,
    });
    expect((await t.repos.decisions.require(decision.id)).status).toBe('applied');
    expect((await t.repos.rollouts.get(rolloutId))!.state).toBe('promoted');

    // Each bake judged big after the change against big over the same span right before it, and
    // checked the after window against the SLOs with the before window as the quality reference.
    const judged = t.judged.get(target)!.slice(0, 2);
    const slos = t.sloChecked.get(target)!.slice(0, 2);
    for (const [i, j] of judged.entries()) {
      expect(j).toMatchObject({ baselineArm: 'big', canaryArm: 'big' });
      const span = Date.parse(j.to) - Date.parse(j.from);
      expect(span).toBeGreaterThanOrEqual((i + 1) * BAKE_SECONDS * 1000);
      expect(j.baselineWindow!.to).toBe(j.from);
      expect(Date.parse(j.baselineWindow!.to) - Date.parse(j.baselineWindow!.from)).toBe(span);
      expect(slos[i]).toMatchObject({
        arm: 'big',
        from: j.from,
        to: j.to,
        baselineArm: 'big',
        baselineWindow: j.baselineWindow,
      });
    }
    expect(await eventTypes(target)).toEqual(
      expect.arrayContaining(['decision.created', 'rollout.started', 'rollout.promoted']),
    );
    // A health watch guards the promoted change, as after a weight canary.
    expect((await t.env.client.workflow.getHandle(`health-${target}`).describe()).type).toBe('healthWatch');
  });

  it('rolls back a change whose after windows regress against before: the old serving value returns', async () => {
    const { target, cycle } = await decideChange({ verdicts: ['fail'] });
    const result = await rolloutOf(cycle.rolloutIds![0]!).result();

    expect(result.state).toBe('rolled_back');
    expect(result.reason).toContain('scripted fail');
    // v3 carried the change; v4 restores v2 exactly, serving value included.
    expect((await t.repos.targets.configVersion(target, 'default', 3))!.serving).toEqual({
      big: { max_concurrency: 24 },
    });
    expect(await config(target)).toMatchObject({
      version: 4,
      weights: { big: 10000 },
      serving: { big: { max_concurrency: 16 } },
    });
    expect((await t.repos.decisions.require(cycle.decisions[0]!.id)).status).toBe('rolled_back');
    expect(await eventTypes(target)).toEqual(
      expect.arrayContaining(['rollout.started', 'rollout.rolled_back']),
    );
  });

  it('rolls back a change that breaches an SLO after it even when the judge passes', async () => {
    const { target, cycle } = await decideChange({ slos: ['breach'] });
    const result = await rolloutOf(cycle.rolloutIds![0]!).result();

    expect(result.state).toBe('rolled_back');
    expect(result.verdicts[0]!.reasons).toEqual([
      'SLO breached: scripted breach: latency p95 1500 ms > SLO 1000 ms',
    ]);
    expect((await config(target)).serving).toEqual({ big: { max_concurrency: 16 } });
  });

  it('is listed by the API and rolled back by an abort sent through it', async () => {
    const { target, cycle } = await decideChange();
    const rolloutId = cycle.rolloutIds![0]!;
    const rollout = rolloutOf(rolloutId);
    await eventually(async () => (await rollout.query(rolloutStatusQuery)).configVersion === 3);
    expect((await config(target)).serving).toEqual({ big: { max_concurrency: 24 } });

    const listed = await call(api, 'GET', `/v1/rollouts?target=${target}`);
    expect(listed.status).toBe(200);
    expect(listed.body.items).toEqual([
      expect.objectContaining({
        id: rolloutId,
        decision_id: cycle.decisions[0]!.id,
        canary_arm: 'big',
        baseline_arm: 'big',
        from_version: 2,
        state: 'progressing',
      }),
    ]);
    const served = await call(api, 'GET', `/v1/targets/${target}/config?segment=default`);
    expect(served.body).toMatchObject({ version: 3, serving: { big: { max_concurrency: 24 } } });

    const abort = await call(api, 'POST', `/v1/rollouts/${rolloutId}/abort`, { reason: 'queueing' });
    expect(abort.status).toBe(202);
    const result = await rollout.result();
    expect(result.state).toBe('aborted');
    // The actor is the caller's identity (the system's admin key), never a name sent in the body.
    expect(result.reason).toMatch(/^aborted by test admin .*: queueing$/);
    expect(await config(target)).toMatchObject({ version: 4, serving: { big: { max_concurrency: 16 } } });
    expect((await t.repos.decisions.require(cycle.decisions[0]!.id)).status).toBe('rolled_back');
    expect(
      (await call(api, 'GET', `/v1/rollouts?target=${target}&state=aborted`)).body.items.map(
        (r: { id: string }) => r.id,
      ),
    ).toEqual([rolloutId]);
  });

  it('supersedes a serving change in a segment where the same cycle already rolls out a switch', async () => {
    const target = await seedServingTarget();
    t.drafts.set(target, [
      { ...switchDraft(target, false), from_version: 2 },
      servingDraft(target, 2, CHANGE),
    ]);
    const cycle = await runCycle(target);

    expect(cycle.decisions.map((d) => [d.kind, d.status])).toEqual([
      ['model_switch', 'approved'],
      ['rate_limit', 'superseded'],
    ]);
    expect(cycle.rolloutIds).toEqual([`rollout-${target}-${cycle.decisions[0]!.id}`]);
    expect((await t.repos.decisions.require(cycle.decisions[1]!.id)).status).toBe('superseded');
    expect((await rolloutOf(cycle.rolloutIds![0]!).result()).state).toBe('promoted');
  });
});
