/**
 * Serving changes of rate_limit and batching decisions over real PostgreSQL: stored with the decision and
 * read back, written into the routing-config version by the rollout that applies them, carried forward by
 * later versions and undone exactly by a rollback; exploration re-spreads stored under their own kind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Arm, Decision, TargetPolicy, type ServingChange } from '../../../domain/model';
import type { Db } from '../../../adapters/db/pool';
import { compose, type Container } from '../../../app/compose';
import { createDecisionsRepo } from '../../../adapters/db/repos/decisions';
import { createRolloutsRepo } from '../../../adapters/db/repos/rollouts';
import { createTargetsRepo } from '../../../adapters/db/repos/targets';
import { createOrchestrationActivities } from '../../../activities/orchestration';
import { testEnv, uniqueName } from '../../helpers/env';

let c: Container;
let db: Db;
beforeAll(async () => {
  c = await compose(testEnv, { name: 'test', poolMax: 4 });
  db = c.db;
});
afterAll(async () => {
  await c?.close();
});

async function setup() {
  const targets = createTargetsRepo(db);
  const decisions = createDecisionsRepo(db);
  const rollouts = createRolloutsRepo(db);
  const name = uniqueName('serving-bot');
  await targets.create({
    name,
    description: '',
    policy: TargetPolicy.parse({}),
    arms: [
      Arm.parse({ id: 'big', provider: 'openai', model: 'gpt-4o', serving: { max_concurrency: 16 } }),
      Arm.parse({ id: 'small', provider: 'openai', model: 'gpt-4o-mini' }),
    ],
    segments: ['default'],
    weights: { big: 9000, small: 1000 },
  });
  const insert = (kind: 'rate_limit' | 'exploration', serving_change: ServingChange | null) =>
    decisions.insert({
      id: crypto.randomUUID(),
      target: name,
      segment: 'default',
      strategy: kind === 'rate_limit' ? 'rate_limiting' : 'model_selection',
      kind,
      status: 'approved',
      from_version: 1,
      from_weights: { big: 9000, small: 1000 },
      to_weights: { big: 9000, small: 1000 },
      canary_arm: 'big',
      baseline_arm: 'big',
      expected_impact: { cost: null, latency: null, quality: null },
      confidence: 0.95,
      safety_checks: [],
      rollback_plan: 'set max_concurrency of big back to 16',
      explanation: '429s',
      serving_change,
      cycle_id: null,
      rollout_id: null,
    });
  const acts = createOrchestrationActivities(c, { notify: false });
  return { name, targets, decisions, rollouts, insert, acts };
}

describe('decision serving changes', () => {
  it('stores the serving change with the decision and reads it back; other decisions have none', async () => {
    const { decisions, insert } = await setup();
    const change: ServingChange = { arm: 'big', field: 'max_concurrency', from: 16, to: 8 };
    const d = await insert('rate_limit', change);
    expect(d.serving_change).toEqual(change);
    const stored = await decisions.require(d.id);
    expect(stored.serving_change).toEqual(change);
    // The API's Decision schema (GET /v1/decisions/{id}) carries it.
    expect(Decision.parse(stored).serving_change).toEqual(change);
    const e = await insert('exploration', null);
    expect(e.kind).toBe('exploration');
    expect((await decisions.require(e.id)).serving_change).toBeNull();
  });

  it('writes it into the version the rollout applies, carries it forward, and a rollback restores the old one', async () => {
    const { name, targets, rollouts, insert, acts } = await setup();
    const d = await insert('rate_limit', { arm: 'big', field: 'max_concurrency', from: 16, to: 8 });
    const rolloutId = `rollout-${name}-${d.id}`;
    await rollouts.create({
      id: rolloutId,
      decision_id: d.id,
      target: name,
      segment: 'default',
      strategy: 'rate_limiting',
      canary_arm: 'big',
      baseline_arm: 'big',
      stages: [{ canary_bps: 10000, bake_seconds: 60, requires_approval: false }],
      from_version: 1,
    });
    expect((await targets.currentConfig(name, 'default'))!.serving).toEqual({});
    const applied = await acts.applyRoutingConfig({
      rolloutId,
      step: 'stage-1',
      target: name,
      segment: 'default',
      expectedVersion: 1,
      weights: { big: 9000, small: 1000 },
      reason: 'rate limit',
    });
    expect(applied.version).toBe(2);
    expect((await targets.configVersion(name, 'default', 2))!.serving).toEqual({
      big: { max_concurrency: 8 },
    });

    // A later version written without serving overrides keeps them.
    const v3 = await targets.appendConfig({
      target: name,
      segment: 'default',
      expectedVersion: 2,
      weights: { big: 8000, small: 2000 },
      rolloutId: null,
      reason: 'manual',
    });
    expect(v3.serving).toEqual({ big: { max_concurrency: 8 } });

    const restored = await acts.restoreRoutingConfig({
      rollbackId: `rollback-${rolloutId}`,
      step: 'restore',
      target: name,
      segment: 'default',
      restoreVersion: 1,
      reason: 'rollback',
    });
    const v4 = await targets.configVersion(name, 'default', restored.newVersion);
    expect(v4!.weights).toEqual({ big: 9000, small: 1000 });
    expect(v4!.serving).toEqual({});
  });

  it('refuses a kind outside the enum at the database', async () => {
    const { name } = await setup();
    await expect(
      db.query(
        `INSERT INTO decisions (id, target, segment, strategy, kind, status) VALUES ($1, $2, 'default', 'x', 'teleport', 'proposed')`,
        [crypto.randomUUID(), name],
      ),
    ).rejects.toThrow(/decisions_kind_check/);
  });
});
