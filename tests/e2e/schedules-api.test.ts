/**
 * A target's optimization cadence through GET/PUT/DELETE /v1/targets/{target}/schedule, backed by a real
 * Temporal Schedule on the dev server whose action starts optimizationCycle runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, uniqueName } from '../helpers/env';
import { call, startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem();
});
afterAll(async () => {
  await sys?.stop();
});

const arms = [{ id: 'big', provider: 'openai', model: 'gpt-4o' }];

describe('optimization schedule', () => {
  it('creates, reads, changes, runs and deletes the cadence of a target', async () => {
    const target = uniqueName('sched-bot');
    expect((await call(sys, 'POST', '/v1/targets', { name: target, arms })).status).toBe(201);
    expect((await call(sys, 'GET', `/v1/targets/${target}/schedule`)).status).toBe(404);

    const created = await call(sys, 'PUT', `/v1/targets/${target}/schedule`, { interval_seconds: 3600 });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({
      target,
      schedule_id: `optimize-${target}`,
      interval_seconds: 3600,
      paused: false,
    });
    expect(created.body.next_runs.length).toBeGreaterThan(0);

    const changed = await call(sys, 'PUT', `/v1/targets/${target}/schedule`, {
      interval_seconds: 120,
      paused: true,
    });
    expect(changed.body).toMatchObject({ interval_seconds: 120, paused: true });
    expect((await call(sys, 'GET', `/v1/targets/${target}/schedule`)).body).toMatchObject({
      interval_seconds: 120,
      paused: true,
    });

    // Triggering the schedule starts a real cycle for the target, which records its decision.
    await sys.client.schedule.getHandle(`optimize-${target}`).trigger();
    const run = await eventually(
      async () => {
        const r = await call(sys, 'GET', `/v1/targets/${target}/schedule`);
        return r.body.recent_runs[0] as { workflow_id: string } | undefined;
      },
      { what: 'a scheduled cycle' },
    );
    expect(run.workflow_id).toMatch(new RegExp(`^cycle-${target}-scheduled`));
    await expect(sys.client.workflow.getHandle(run.workflow_id).result()).resolves.toMatchObject({ target });

    expect((await call(sys, 'DELETE', `/v1/targets/${target}/schedule`)).status).toBe(204);
    expect((await call(sys, 'GET', `/v1/targets/${target}/schedule`)).status).toBe(404);
  });

  it('names a bad cadence and answers unknown targets with 404', async () => {
    const target = uniqueName('sched-bad');
    expect((await call(sys, 'POST', '/v1/targets', { name: target, arms })).status).toBe(201);
    const bad = await call(sys, 'PUT', `/v1/targets/${target}/schedule`, { interval_seconds: 5 });
    expect(bad.status).toBe(422);
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toContain('interval_seconds');
    expect(
      (await call(sys, 'PUT', '/v1/targets/no-such-target/schedule', { interval_seconds: 600 })).status,
    ).toBe(404);
  });
});
