/** REST of a target's optimization schedule: the wire format over app/schedules.ts. */
import type { RouteHandler } from '@hono/zod-openapi';
import type { ScheduleView } from '../../../app/schedules';
import { callerOf } from '../../lib/caller';
import type { ApiDeps, AppBindings } from '../../lib/types';
import type { deleteSchedule, getSchedule, putSchedule } from './schedules.routes';

const toBody = (s: ScheduleView) => ({
  target: s.target,
  schedule_id: s.scheduleId,
  interval_seconds: s.intervalSeconds,
  paused: s.paused,
  next_runs: s.nextRuns.map((t) => t.toISOString()),
  recent_runs: s.recentRuns.map((r) => ({
    workflow_id: r.workflowId,
    started_at: r.startedAt.toISOString(),
  })),
});

export function scheduleHandlers(deps: ApiDeps) {
  const service = deps.services.schedules;

  const get: RouteHandler<typeof getSchedule, AppBindings> = async (c) =>
    c.json(toBody(await service.get(callerOf(c), c.req.valid('param').target)), 200);

  const put: RouteHandler<typeof putSchedule, AppBindings> = async (c) => {
    const { interval_seconds, paused } = c.req.valid('json');
    const s = await service.set(callerOf(c), c.req.valid('param').target, {
      intervalSeconds: interval_seconds,
      paused,
    });
    return c.json(toBody(s), 200);
  };

  const del: RouteHandler<typeof deleteSchedule, AppBindings> = async (c) => {
    await service.remove(callerOf(c), c.req.valid('param').target);
    return c.body(null, 204);
  };

  return { get, put, del };
}
