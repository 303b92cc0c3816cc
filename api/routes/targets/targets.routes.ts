/** Contracts of the targets resource: create, list, read, and the current routing config. */
import { createRoute, z } from '@hono/zod-openapi';
import {
  Arm,
  RoutingConfig,
  SegmentName,
  Target,
  TargetName,
  TargetPolicy,
  Weights,
} from '../../../domain/model';
import { DEFAULT_SEGMENT } from '../../../domain/names';
import { crudResponses, jsonBody, jsonResponse, problemResponse, TargetParam } from '../../lib/schemas';

export const CreateTargetBody = z
  .object({
    name: TargetName,
    description: z.string().max(2000).default(''),
    policy: TargetPolicy.default(TargetPolicy.parse({})),
    arms: z
      .array(Arm)
      .min(1)
      .max(200)
      .refine((arms) => new Set(arms.map((a) => a.id)).size === arms.length, {
        message: 'arm ids must be unique',
      }),
    segments: z
      .array(SegmentName)
      .min(1)
      .max(500)
      .refine((s) => new Set(s).size === s.length, { message: 'segment names must be unique' })
      .default([DEFAULT_SEGMENT]),
    /** Initial weights of every segment; when absent the first arm serves all traffic. */
    weights: Weights.optional(),
  })
  .strict()
  .openapi('CreateTarget', {
    example: {
      name: 'support-bot',
      description: 'Customer support assistant',
      arms: [
        { id: 'gpt-4o', provider: 'openai', model: 'gpt-4o' },
        { id: 'haiku', provider: 'anthropic', model: 'claude-3-5-haiku' },
      ],
      segments: ['default', 'summarize'],
    } as never,
  });

export const TargetSchema = Target.openapi('Target');
export const RoutingConfigSchema = RoutingConfig.openapi('RoutingConfig');
const targetResponses = crudResponses(TargetSchema, 'No such target');

export const createTarget = createRoute({
  method: 'post',
  path: '/v1/targets',
  tags: ['targets'],
  summary: 'Create a target with its arms, segments and initial routing config (one transaction)',
  request: jsonBody(CreateTargetBody),
  responses: {
    201: jsonResponse(TargetSchema, 'The created target'),
    409: problemResponse('A target with this name exists'),
    422: problemResponse('Invalid body; `errors` names each field'),
  },
});

export const listTargets = createRoute({
  method: 'get',
  path: '/v1/targets',
  tags: ['targets'],
  summary: 'List targets by name, paginated',
  request: {
    query: z.object({
      limit: z.coerce.number().int().min(1).max(200).default(50),
      cursor: z.string().max(500).optional(),
    }),
  },
  responses: targetResponses.page('A page of targets'),
});

export const getTarget = createRoute({
  method: 'get',
  path: '/v1/targets/{target}',
  tags: ['targets'],
  summary: 'Read a target',
  request: { params: TargetParam },
  responses: targetResponses.read('The target'),
});

/** Query of the config route; its handler validates it itself (targets.handlers.ts, configInput). */
export const ConfigQuery = z.object({ segment: SegmentName.default(DEFAULT_SEGMENT) });

export const getConfig = createRoute({
  method: 'get',
  path: '/v1/targets/{target}/config',
  tags: ['routing'],
  summary: "The current routing config of a target's segment, with its version",
  request: {
    params: TargetParam,
    query: ConfigQuery,
  },
  responses: {
    200: {
      ...jsonResponse(RoutingConfigSchema, 'The current routing config; ETag carries its version'),
      headers: z.object({ ETag: z.string() }),
    },
    304: { description: 'Unchanged since the ETag in If-None-Match' },
    404: problemResponse('No such target or segment'),
  },
});
