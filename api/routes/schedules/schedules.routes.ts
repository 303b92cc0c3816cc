/** Contracts of a target's optimization schedule: a Temporal Schedule that starts optimizationCycle. */
import { createRoute, z } from '@hono/zod-openapi';
import { jsonBody, jsonResponse, problemResponse, TargetParam } from '../../lib/schemas';

export const ScheduleSchema = z
  .object({
    target: z.string(),
    schedule_id: z.string(),
    interval_seconds: z.number().int(),
    paused: z.boolean(),
    next_runs: z.array(z.string()),
    recent_runs: z.array(z.object({ workflow_id: z.string(), started_at: z.string() })),
  })
  .openapi('OptimizationSchedule');

export const ScheduleBody = z
  .object({
    interval_seconds: z
      .number()
      .int()
      .min(60)
      .max(30 * 24 * 3600)
      .describe('Cadence of optimization cycles for this target, in seconds'),
    paused: z.boolean().default(false),
  })
  .strict()
  .openapi('OptimizationScheduleUpdate', { example: { interval_seconds: 3600, paused: false } });

export const getSchedule = createRoute({
  method: 'get',
  path: '/v1/targets/{target}/schedule',
  tags: ['schedules'],
  summary: "Read the target's optimization cadence (a Temporal Schedule)",
  request: { params: TargetParam },
  responses: {
    200: jsonResponse(ScheduleSchema, 'The schedule'),
    404: problemResponse('No such target, or it has no schedule'),
  },
});

export const putSchedule = createRoute({
  method: 'put',
  path: '/v1/targets/{target}/schedule',
  tags: ['schedules'],
  summary: "Create or change the target's optimization cadence",
  request: { params: TargetParam, ...jsonBody(ScheduleBody) },
  responses: {
    200: jsonResponse(ScheduleSchema, 'The schedule as it now is'),
    404: problemResponse('No such target'),
    422: problemResponse('Invalid body'),
  },
});

export const deleteSchedule = createRoute({
  method: 'delete',
  path: '/v1/targets/{target}/schedule',
  tags: ['schedules'],
  summary: "Delete the target's optimization schedule (cycles can still be started by the API)",
  request: { params: TargetParam },
  responses: { 204: { description: 'Deleted' }, 404: problemResponse('No such target or schedule') },
});
