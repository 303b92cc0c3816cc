/**
 * Contracts that change a target after creation (update, delete, segments and arms) and read its
 * routing-config history. Updates need If-Match with the ETag last read: 428 without it, 412 when stale.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { Arm, ArmId, SegmentName, TargetPolicy, Weights } from '../../../domain/model';
import { DEFAULT_SEGMENT } from '../../../domain/names';
import { crudResponses, jsonBody, jsonResponse, problemResponse, TargetParam } from '../../lib/schemas';
import { RoutingConfigSchema, TargetSchema } from './targets.routes';

const IfMatch = z.object({
  'if-match': z
    .string()
    .max(300)
    .optional()
    .openapi({
      param: { name: 'if-match', in: 'header' },
      description: 'The ETag last read; required on updates',
    }),
});
const IfMatchOptional = z.object({
  'if-match': z
    .string()
    .max(300)
    .optional()
    .openapi({
      param: { name: 'if-match', in: 'header' },
      description: 'When sent, the change applies only at this ETag',
    }),
});
const withEtag = <T extends z.ZodType>(schema: T, description: string) => ({
  ...jsonResponse(schema, description),
  headers: z.object({ ETag: z.string() }),
});
const armResponses = crudResponses(Arm, 'No such target or arm');
const configResponses = crudResponses(RoutingConfigSchema, 'No such target or segment');
const preconditions = {
  412: problemResponse('If-Match does not match the current ETag (someone changed it since you read it)'),
  428: problemResponse('If-Match is required on this update'),
};
/** A delete that a conflict can refuse and an optional If-Match can guard. */
const removal = (
  responses: { remove(): ReturnType<ReturnType<typeof crudResponses>['remove']> },
  conflict: string,
) => ({
  ...responses.remove(),
  409: problemResponse(conflict),
  412: preconditions[412],
});

const SegmentParams = TargetParam.extend({
  segment: SegmentName.openapi({ param: { name: 'segment', in: 'path' }, example: 'summarize' }),
});
const ArmParams = TargetParam.extend({
  arm: ArmId.openapi({ param: { name: 'arm', in: 'path' }, example: 'haiku' }),
});
const SegmentQuery = z.object({ segment: SegmentName.default(DEFAULT_SEGMENT) });

export const UpdateTargetBody = z
  .object({ description: z.string().max(2000).optional(), policy: TargetPolicy.optional() })
  .strict()
  .refine((b) => b.description !== undefined || b.policy !== undefined, {
    message: 'send description and/or policy',
  })
  .openapi('UpdateTarget', { example: { description: 'Customer support assistant (EU)' } });

export const updateTarget = createRoute({
  method: 'patch',
  path: '/v1/targets/{target}',
  tags: ['targets'],
  summary: "Change a target's description or policy (If-Match: the target's ETag)",
  request: { params: TargetParam, headers: IfMatch, ...jsonBody(UpdateTargetBody) },
  responses: {
    200: withEtag(TargetSchema, 'The updated target'),
    404: problemResponse('No such target'),
    422: problemResponse('Invalid body'),
    ...preconditions,
  },
});

export const deleteTarget = createRoute({
  method: 'delete',
  path: '/v1/targets/{target}',
  tags: ['targets'],
  summary: 'Delete a target with its segments, arms, configs and decisions',
  request: { params: TargetParam, headers: IfMatchOptional },
  responses: removal(crudResponses(TargetSchema, 'No such target'), 'Still referenced'),
});

export const SegmentSchema = z
  .object({ target: z.string(), name: SegmentName, config: RoutingConfigSchema })
  .openapi('Segment');
const segmentResponses = crudResponses(SegmentSchema, 'No such target or segment');

export const CreateSegmentBody = z
  .object({
    name: SegmentName,
    /** Version 1 of the new segment's routing config; defaults to the default segment's current weights. */
    weights: Weights.optional(),
  })
  .strict()
  .openapi('CreateSegment', { example: { name: 'summarize' } });

export const listSegments = createRoute({
  method: 'get',
  path: '/v1/targets/{target}/segments',
  tags: ['targets'],
  summary: 'Segments of a target with their current routing configs',
  request: { params: TargetParam },
  responses: {
    200: jsonResponse(z.object({ items: z.array(SegmentSchema) }), 'The segments'),
    404: problemResponse('No such target'),
  },
});

export const createSegment = createRoute({
  method: 'post',
  path: '/v1/targets/{target}/segments',
  tags: ['targets'],
  summary: 'Add a segment (task type) with version 1 of its routing config',
  request: { params: TargetParam, headers: IfMatchOptional, ...jsonBody(CreateSegmentBody) },
  responses: {
    201: jsonResponse(SegmentSchema, 'The new segment'),
    404: problemResponse('No such target'),
    409: problemResponse('The segment exists'),
    412: preconditions[412],
    422: problemResponse('Invalid body'),
  },
});

export const getSegment = createRoute({
  method: 'get',
  path: '/v1/targets/{target}/segments/{segment}',
  tags: ['targets'],
  summary: 'A segment and its current routing config',
  request: { params: SegmentParams },
  responses: segmentResponses.read('The segment'),
});

export const deleteSegment = createRoute({
  method: 'delete',
  path: '/v1/targets/{target}/segments/{segment}',
  tags: ['targets'],
  summary: 'Remove a segment and its config history (the default segment stays)',
  request: { params: SegmentParams, headers: IfMatchOptional },
  responses: removal(segmentResponses, 'The default segment cannot be removed'),
});

export const listArms = createRoute({
  method: 'get',
  path: '/v1/targets/{target}/arms',
  tags: ['targets'],
  summary: 'Arms (LLM configurations) of a target',
  request: { params: TargetParam },
  responses: {
    200: jsonResponse(z.object({ items: z.array(Arm.openapi('Arm')) }), 'The arms'),
    404: problemResponse('No such target'),
  },
});

export const createArm = createRoute({
  method: 'post',
  path: '/v1/targets/{target}/arms',
  tags: ['targets'],
  summary: 'Add an arm; it gets traffic only when a routing config gives it weight',
  request: { params: TargetParam, headers: IfMatchOptional, ...jsonBody(Arm) },
  responses: {
    201: jsonResponse(Arm, 'The new arm'),
    404: problemResponse('No such target'),
    409: problemResponse('The arm exists'),
    412: preconditions[412],
    422: problemResponse('Invalid body'),
  },
});

export const getArm = createRoute({
  method: 'get',
  path: '/v1/targets/{target}/arms/{arm}',
  tags: ['targets'],
  summary: 'An arm',
  request: { params: ArmParams },
  responses: armResponses.read('The arm'),
});

export const UpdateArmBody = Arm.omit({ id: true })
  .partial()
  .strict()
  .refine((b) => Object.keys(b).length > 0, { message: 'send at least one field' })
  .openapi('UpdateArm', { example: { model: 'claude-3-5-haiku-latest' } });

export const updateArm = createRoute({
  method: 'patch',
  path: '/v1/targets/{target}/arms/{arm}',
  tags: ['targets'],
  summary: "Change an arm's provider, model, prompt or parameters (If-Match: the target's ETag)",
  request: { params: ArmParams, headers: IfMatch, ...jsonBody(UpdateArmBody) },
  responses: {
    200: withEtag(Arm, 'The updated arm; ETag is the target revision after the change'),
    404: problemResponse('No such target or arm'),
    422: problemResponse('Invalid body'),
    ...preconditions,
  },
});

export const deleteArm = createRoute({
  method: 'delete',
  path: '/v1/targets/{target}/arms/{arm}',
  tags: ['targets'],
  summary: 'Remove an arm that no current routing config sends traffic to',
  request: { params: ArmParams, headers: IfMatchOptional },
  responses: removal(armResponses, 'The arm still has weight in a current routing config'),
});

export const PutConfigBody = z
  .object({ weights: Weights, reason: z.string().min(1).max(500).default('changed through the API') })
  .strict()
  .openapi('PutRoutingConfig', {
    example: { weights: { 'gpt-4o': 9000, haiku: 1000 }, reason: 'manual 10% trial' },
  });

export const putConfig = createRoute({
  method: 'put',
  path: '/v1/targets/{target}/config',
  tags: ['routing'],
  summary: 'Write a new routing-config version (If-Match: the ETag of the version it replaces)',
  request: { params: TargetParam, query: SegmentQuery, headers: IfMatch, ...jsonBody(PutConfigBody) },
  responses: {
    200: withEtag(RoutingConfigSchema, 'The new version'),
    404: problemResponse('No such target or segment'),
    422: problemResponse('Invalid body, or weights naming an unknown arm'),
    ...preconditions,
  },
});

export const configHistory = createRoute({
  method: 'get',
  path: '/v1/targets/{target}/config/history',
  tags: ['routing'],
  summary: "A segment's routing-config versions, newest first",
  request: {
    params: TargetParam,
    query: SegmentQuery.extend({
      limit: z.coerce.number().int().min(1).max(200).default(50),
      cursor: z.string().max(200).optional(),
    }),
  },
  responses: {
    ...configResponses.page('A page of versions'),
    ...configResponses.notFound,
  },
});

export const configVersion = createRoute({
  method: 'get',
  path: '/v1/targets/{target}/config/versions/{version}',
  tags: ['routing'],
  summary: 'One routing-config version of a segment',
  request: {
    params: TargetParam.extend({
      version: z.coerce
        .number()
        .int()
        .min(1)
        .max(2_147_483_647)
        .openapi({ param: { name: 'version', in: 'path' }, example: 1 }),
    }),
    query: SegmentQuery,
  },
  responses: {
    200: withEtag(RoutingConfigSchema, 'The version'),
    400: problemResponse('Invalid version'),
    404: problemResponse('No such target, segment or version'),
  },
});
