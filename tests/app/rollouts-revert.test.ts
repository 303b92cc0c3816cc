/**
 * Reverting a promoted rollout (POST /v1/rollouts/{id}/revert): the config it started from serves again,
 * through the real `rollback` workflow; a second revert, a revert of a rollout that did not promote, and
 * a revert over a later change are refused with 409 saying why, and change nothing.
 */
// First: zod-openapi must extend zod before any domain schema is built.
import '@hono/zod-openapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTargetsRepo } from '../../adapters/db/repos/targets';
import { call, startTestSystem, type TestSystem } from '../helpers/system';
import {
  missingRollout,
  seedPromotedRollout,
  servedConfig,
  startGatedRollout,
  endOpenRuns,
} from './rollouts-fixtures';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem();
});
afterAll(async () => {
  if (sys) await endOpenRuns(sys);
  await sys?.stop();
});

const revert = (id: string, body: object = {}) => call(sys, 'POST', `/v1/rollouts/${id}/revert`, body);

describe('revert of a rollout', () => {
  it('restores the config a promoted rollout started from, once', async () => {
    const { id, target } = await seedPromotedRollout(sys, 'revert');
    expect(await servedConfig(sys, target)).toEqual({ version: 2, weights: { small: 10000 } });

    const r = await revert(id, { reason: 'complaints' });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      id,
      state: 'rolled_back',
      rollback_id: `rollback-${target}-default-v1`,
      restored_version: 1,
      new_version: 3,
    });
    expect(await servedConfig(sys, target)).toEqual({ version: 3, weights: { big: 10000 } });
    const row = (await call(sys, 'GET', `/v1/rollouts/${id}`)).body;
    expect(row).toMatchObject({ state: 'rolled_back', to_version: 3 });
    // The actor is the caller's identity (the system's admin key), with the reason given.
    expect(row.reason).toMatch(/^reverted by test admin .*: complaints$/);

    const again = await revert(id);
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toContain('application/problem+json');
    expect(again.body.detail).toContain('is rolled_back; only a promoted rollout can be reverted');
    expect(await servedConfig(sys, target)).toEqual({ version: 3, weights: { big: 10000 } });
  });

  it('refuses a rollout that did not promote, and one whose config changed since', async () => {
    const running = await startGatedRollout(sys, 'revert-run');
    const refused = await revert(running.id);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ state: 'awaiting_approval' });
    expect(refused.body.detail).toContain('only a promoted rollout can be reverted');
    expect((await call(sys, 'POST', `/v1/rollouts/${running.id}/abort`, {})).status).toBe(202);

    const { id, target } = await seedPromotedRollout(sys, 'revert-moved');
    // Someone sets the config by hand after the promotion: a revert must not overwrite that.
    await createTargetsRepo(sys.deps.db).appendConfig({
      target,
      segment: 'default',
      expectedVersion: 2,
      weights: { big: 5000, small: 5000 },
      rolloutId: null,
      reason: 'by hand',
    });
    const moved = await revert(id);
    expect(moved.status).toBe(409);
    expect(moved.body).toMatchObject({ state: 'promoted', promoted_version: 2, current_version: 3 });
    expect(moved.body.detail).toContain('changed since');
    expect(await servedConfig(sys, target)).toEqual({ version: 3, weights: { big: 5000, small: 5000 } });
  });

  it('answers an unknown rollout with 404, a body naming someone with 422, and an analyst with 403', async () => {
    expect((await revert(missingRollout())).status).toBe(404);
    const { id } = await seedPromotedRollout(sys, 'revert-auth');
    const forged = await revert(id, { by: 'someone else' });
    expect(forged.status).toBe(422);
    const analyst = await call(
      sys,
      'POST',
      `/v1/rollouts/${id}/revert`,
      {},
      {},
      {
        auth: await sys.keyFor('analyst'),
      },
    );
    expect(analyst.status).toBe(403);
    expect((await call(sys, 'GET', `/v1/rollouts/${id}`)).body.state).toBe('promoted');
  });
});
