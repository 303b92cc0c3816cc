/** Contracts of the optimizations resource: trigger a cycle, read its state and decisions. */
import { createRoute, z } from '@hono/zod-openapi';
import { Decision, SegmentName, TargetName } from '../../../domain/model';
import { jsonBody, jsonResponse, problemResponse } from '../../lib/schemas';

export const TriggerOptimizationBody = z
  .object({ target: TargetName, segment: SegmentName.optional() })
  .strict()
  .openapi('TriggerOptimization', { example: { target: 'support-bot' } });

export const OptimizationStarted = z
  .object({ id: z.string(), run_id: z.string(), target: z.string(), status_url: z.string() })
  .openapi('OptimizationStarted');

export const OptimizationState = z
  .object({
    id: z.string(),
    target: z.string().nullable(),
    status: z.enum([
      'running',
      'completed',
      'failed',
      'canceled',
      'terminated',
      'timed_out',
      'continued_as_new',
      'unknown',
    ]),
    phase: z.string().nullable(),
    started_at: z.string().nullable(),
    closed_at: z.string().nullable(),
    failure: z.string().nullable(),
    decisions: z.array(Decision.openapi('Decision')),
    temporal_ui_url: z.string(),
  })
  .openapi('OptimizationState');

export const OptimizationId = z.object({
  id: z
    .string()
    .max(200)
    .regex(
      /^cycle-[a-z0-9._-]+$/,
      'an optimization id as returned by POST /v1/optimizations (cycle-<target>-<time>)',
    )
    .openapi({ param: { name: 'id', in: 'path' } }),
});

export const triggerOptimization = createRoute({
  method: 'post',
  path: '/v1/optimizations',
  tags: ['optimizations'],
  summary: 'Start an optimization cycle for a target (workflow optimizationCycle)',
  request: jsonBody(TriggerOptimizationBody),
  responses: {
    202: jsonResponse(OptimizationStarted, 'The cycle was started'),
    404: problemResponse('No such target or segment'),
    409: problemResponse('A cycle with this id is already running'),
    422: problemResponse('Invalid body'),
  },
});

export const getOptimization = createRoute({
  method: 'get',
  path: '/v1/optimizations/{id}',
  tags: ['optimizations'],
  summary: "A cycle's state and, once done, its decisions",
  request: { params: OptimizationId },
  responses: {
    200: jsonResponse(OptimizationState, 'The cycle'),
    400: problemResponse('Malformed id'),
    404: problemResponse('No such cycle'),
  },
});
