/** Contracts of the optimizations resource: start, list, read and cancel cycles (workflow optimizationCycle). */
import { createRoute, z } from '@hono/zod-openapi';
import { CYCLE_STATUSES, CycleId } from '../../../app/cycles';
import { Decision, SegmentName, TargetName } from '../../../domain/model';
import { jsonBody, jsonResponse, pageOf, problemResponse } from '../../lib/schemas';

export const TriggerOptimizationBody = z
  .object({ target: TargetName, segment: SegmentName.optional() })
  .strict()
  .openapi('TriggerOptimization', { example: { target: 'support-bot' } });

export const OptimizationStarted = z
  .object({ id: z.string(), run_id: z.string(), target: z.string(), status_url: z.string() })
  .openapi('OptimizationStarted');

const summaryFields = {
  id: z.string(),
  run_id: z.string(),
  target: z.string().nullable(),
  segment: z.string().nullable().describe('The one segment decided for; null for every segment'),
  trigger: z.enum(['api', 'schedule']).describe('Started through the API, or by the target’s schedule'),
  status: z.enum(CYCLE_STATUSES),
  started_at: z.string(),
  closed_at: z.string().nullable(),
  temporal_ui_url: z.string(),
};

export const OptimizationSummary = z.object(summaryFields).openapi('OptimizationSummary');

export const OptimizationState = z
  .object({
    ...summaryFields,
    phase: z.string().nullable(),
    failure: z.string().nullable(),
    cancel_requested: z
      .boolean()
      .describe('Cancellation was asked for; the cycle ends `canceled` at its next step'),
    decisions: z.array(Decision.openapi('Decision')),
  })
  .openapi('OptimizationState');

export const OptimizationId = z.object({
  id: CycleId.openapi({ param: { name: 'id', in: 'path' } }),
});

const CancelBody = z
  .object({ reason: z.string().max(2000).optional() })
  .strict()
  .openapi('OptimizationCancel');

export const triggerOptimization = createRoute({
  method: 'post',
  path: '/v1/optimizations',
  tags: ['optimizations'],
  summary: 'Start an optimization cycle for a target (workflow optimizationCycle)',
  description:
    'With an `Idempotency-Key`, the cycle id is `cycle-<target>-key-<digest>` of the caller and the key, so ' +
    'a repeat (REST or gRPC) answers the same cycle even after the stored answer expired.',
  request: jsonBody(TriggerOptimizationBody),
  responses: {
    202: jsonResponse(OptimizationStarted, 'The cycle was started'),
    404: problemResponse('No such target or segment'),
    409: problemResponse('A cycle with this id is already running'),
    422: problemResponse('Invalid body'),
  },
});

export const listOptimizations = createRoute({
  method: 'get',
  path: '/v1/optimizations',
  tags: ['optimizations'],
  summary: 'List cycles of a target, or of every target, newest start first',
  description:
    'Read from Temporal visibility: a cycle started a moment ago may take a moment to appear. ' +
    '`next_cursor` is opaque and also valid for the gRPC List.',
  request: {
    query: z.object({
      target: TargetName.optional(),
      limit: z.coerce.number().int().min(1).max(100).default(20),
      cursor: z.string().max(500).optional(),
    }),
  },
  responses: {
    200: jsonResponse(pageOf(OptimizationSummary), 'A page of cycles'),
    400: problemResponse('Invalid query or cursor'),
  },
});

export const getOptimization = createRoute({
  method: 'get',
  path: '/v1/optimizations/{id}',
  tags: ['optimizations'],
  summary: "A cycle's state, its phase while it runs, and the decisions it recorded",
  request: { params: OptimizationId },
  responses: {
    200: jsonResponse(OptimizationState, 'The cycle'),
    400: problemResponse('Malformed id'),
    404: problemResponse('No such cycle'),
  },
});

export const cancelOptimization = createRoute({
  method: 'post',
  path: '/v1/optimizations/{id}/cancel',
  tags: ['optimizations'],
  summary: 'Ask a running cycle to stop',
  description:
    'The cycle ends `canceled` at its next step; Temporal records the caller as who canceled it. Rollouts ' +
    'the cycle already started go on: each is a workflow of its own (stop one with POST /v1/rollouts/{id}/abort). ' +
    'Asking again while the cancellation is pending is accepted.',
  request: { params: OptimizationId, body: { ...jsonBody(CancelBody).body, required: false } },
  responses: {
    202: jsonResponse(OptimizationState, 'Cancellation requested; the cycle as it is now'),
    400: problemResponse('Malformed id'),
    404: problemResponse('No such cycle'),
    409: problemResponse('The cycle has already finished'),
    422: problemResponse('Invalid body'),
  },
});
