import type { RouteHandler } from '@hono/zod-openapi';
import { ScheduleAlreadyRunning, ScheduleNotFoundError, type ScheduleDescription } from '@temporalio/client';
import { notFound } from '../../../domain/errors';
import { callerOf } from '../../lib/caller';
import type { ApiDeps, AppBindings } from '../../lib/types';
import type { deleteSchedule, getSchedule, putSchedule } from './schedules.routes';

/** One schedule per target; its id carries the business key like every workflow id. */
export const scheduleId = (target: string) => `optimize-${target}`;

const intervalSeconds = (d: ScheduleDescription): number => {
  const every = d.spec.intervals?.[0]?.every;
  return typeof every === 'number' ? Math.round(every / 1000) : Math.round(Number(every ?? 0));
};

export function scheduleHandlers(deps: ApiDeps) {
  const schedules = deps.temporal.schedule;
  const { cycles } = deps.services;

  const view = (target: string, d: ScheduleDescription) => ({
    target,
    schedule_id: d.scheduleId,
    interval_seconds: intervalSeconds(d),
    paused: d.state.paused,
    next_runs: d.info.nextActionTimes.slice(0, 5).map((t) => t.toISOString()),
    recent_runs: d.info.recentActions.slice(-5).map((a) => ({
      workflow_id: 'workflow' in a.action ? a.action.workflow.workflowId : '',
      started_at: a.takenAt.toISOString(),
    })),
  });

  async function describe(target: string): Promise<ScheduleDescription> {
    try {
      return await schedules.getHandle(scheduleId(target)).describe();
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) throw notFound(`schedule of target "${target}"`);
      throw err;
    }
  }

  const get: RouteHandler<typeof getSchedule, AppBindings> = async (c) => {
    const { target } = c.req.valid('param');
    await deps.repos.targets.require(target);
    return c.json(view(target, await describe(target)), 200);
  };

  const put: RouteHandler<typeof putSchedule, AppBindings> = async (c) => {
    const { target } = c.req.valid('param');
    const { interval_seconds, paused } = c.req.valid('json');
    // The cycles service's start, with the id every scheduled run extends (see workflowIds.cycleScheduled).
    const action = await cycles.scheduledAction(callerOf(c), target, interval_seconds);
    const spec = { intervals: [{ every: interval_seconds * 1000 }] };
    try {
      await schedules.create({
        scheduleId: scheduleId(target),
        spec,
        action,
        // A cycle still running when the next is due is skipped, never stacked.
        policies: { overlap: 'SKIP', catchupWindow: '1 minute' },
        state: { paused, note: `cadence set through the API` },
      });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      const handle = schedules.getHandle(scheduleId(target));
      await handle.update((prev) => ({ ...prev, spec, action, state: { ...prev.state, paused } }));
    }
    return c.json(view(target, await describe(target)), 200);
  };

  const del: RouteHandler<typeof deleteSchedule, AppBindings> = async (c) => {
    const { target } = c.req.valid('param');
    await deps.repos.targets.require(target);
    await describe(target);
    await schedules.getHandle(scheduleId(target)).delete();
    return c.body(null, 204);
  };

  return { get, put, del };
}
