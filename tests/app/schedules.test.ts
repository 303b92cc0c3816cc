/**
 * The schedules service is what REST (and any other door) does to a target's cadence: pausing and
 * resuming through it is what GET /v1/targets/{target}/schedule shows, the Temporal Schedule carries the
 * caller in its note, and an unknown target or schedule is not_found whichever door asks.
 */
// The app (and with it @hono/zod-openapi) loads before any other zod schema is built.
import { call, startTestSystem, type TestSystem } from '../helpers/system';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../domain/errors';
import { uniqueName } from '../helpers/env';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ workers: false });
}, 120_000);
afterAll(async () => {
  await sys?.stop();
});

const arms = [{ id: 'big', provider: 'openai', model: 'gpt-4o' }];
const person = { id: 'key:schedtest', actor: 'schedule tester' };

describe('a target schedule through the service and REST', () => {
  it('pauses and resumes, as REST then reads it, and says who did it', async () => {
    const target = uniqueName('sched-svc');
    expect((await call(sys, 'POST', '/v1/targets', { name: target, arms })).status).toBe(201);
    const service = sys.deps.services.schedules;
    try {
      const set = await service.set(person, target, { intervalSeconds: 3600, paused: false });
      expect(set).toMatchObject({
        target,
        scheduleId: `optimize-${target}`,
        intervalSeconds: 3600,
        paused: false,
      });

      expect((await service.pause(person, target)).paused).toBe(true);
      expect((await call(sys, 'GET', `/v1/targets/${target}/schedule`)).body).toMatchObject({ paused: true });
      const described = await sys.client.schedule.getHandle(`optimize-${target}`).describe();
      expect(described.state.note).toBe('paused by schedule tester');
      // Pausing what is paused changes nothing.
      expect((await service.pause(person, target)).paused).toBe(true);

      expect((await service.resume(person, target)).paused).toBe(false);
      expect((await call(sys, 'GET', `/v1/targets/${target}/schedule`)).body).toMatchObject({
        paused: false,
        interval_seconds: 3600,
      });
    } finally {
      await service.remove(person, target).catch(() => undefined);
    }
  });

  it('answers not_found for an unknown target or a target without a schedule', async () => {
    const service = sys.deps.services.schedules;
    await expect(service.pause(person, uniqueName('no-such'))).rejects.toMatchObject({ type: 'not_found' });
    const target = uniqueName('sched-none');
    expect((await call(sys, 'POST', '/v1/targets', { name: target, arms })).status).toBe(201);
    const err: unknown = await service.get(person, target).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).message).toContain(`schedule of target "${target}"`);
    expect((await call(sys, 'GET', `/v1/targets/${target}/schedule`)).status).toBe(404);
  });
});
