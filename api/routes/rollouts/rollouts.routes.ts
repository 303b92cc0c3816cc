/** Contracts of the rollouts resource: list and read canary rollouts, and steer a running one. */
import { createRoute, z } from '@hono/zod-openapi';
import { RolloutState, TargetName } from '../../../domain/model';
import { crudResponses, jsonBody, jsonResponse, problemResponse } from '../../lib/schemas';

export const RolloutSchema = z
  .object({
    id: z.string(),
    decision_id: z.string(),
    target: z.string(),
    segment: z.string(),
    strategy: z.string(),
    canary_arm: z.string(),
    baseline_arm: z.string(),
    state: RolloutState,
    stages: z.array(
      z.object({ canary_bps: z.number(), bake_seconds: z.number(), requires_approval: z.boolean() }),
    ),
    current_stage: z.number().int(),
    weights: z.record(z.string(), z.number()).nullable(),
    verdicts: z.array(z.record(z.string(), z.unknown())),
    from_version: z.number().int(),
    to_version: z.number().int().nullable(),
    reason: z.string(),
    created_at: z.string(),
    updated_at: z.string(),
    finished_at: z.string().nullable(),
  })
  .openapi('Rollout');

export const RolloutDetail = RolloutSchema.extend({
  workflow: z.object({
    status: z.string(),
    paused: z.boolean().nullable(),
    awaiting_approval_stage: z.number().int().nullable(),
    rollback_id: z.string().nullable(),
    temporal_ui_url: z.string(),
  }),
}).openapi('RolloutDetail');

export const RolloutId = z.object({
  id: z
    .string()
    .max(300)
    .regex(/^rollout-[a-z0-9._-]+$/, 'a rollout id: rollout-<target>-<decision id>')
    .openapi({ param: { name: 'id', in: 'path' } }),
});

// The actor of every action is the authenticated caller: a body cannot name someone else.
const ActionBody = z
  .object({ reason: z.string().max(2000).optional() })
  .strict()
  .openapi('RolloutAction');

const ApproveBody = z
  .object({
    stage: z
      .number()
      .int()
      .min(0)
      .max(19)
      .optional()
      .describe('0-based index (in `stages`) of the stage being approved; absent for the one that awaits'),
  })
  .strict()
  .openapi('RolloutApproval');

const Accepted = z
  .object({ id: z.string(), action: z.string(), state: z.string(), detail: z.string() })
  .openapi('RolloutActionAccepted');

const Reverted = z
  .object({
    id: z.string(),
    state: z.enum(['rolled_back', 'rolling_back']),
    rollback_id: z.string().describe('The `rollback` workflow run restoring the config'),
    restored_version: z.number().int().describe('The config version restored (the rollout started from it)'),
    new_version: z.number().int().nullable().describe('The version the restore wrote; null while it runs'),
  })
  .openapi('RolloutReverted');

export const listRollouts = createRoute({
  method: 'get',
  path: '/v1/rollouts',
  tags: ['rollouts'],
  summary: 'List rollouts, newest first, by target and state',
  request: {
    query: z.object({
      target: TargetName.optional(),
      state: RolloutState.optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50),
      cursor: z.string().max(500).optional(),
    }),
  },
  responses: crudResponses(RolloutSchema, 'No such rollout').page('A page of rollouts'),
});

const rolloutResponses = crudResponses(RolloutDetail, 'No such rollout');

export const getRollout = createRoute({
  method: 'get',
  path: '/v1/rollouts/{id}',
  tags: ['rollouts'],
  summary: 'A rollout from the database, with the live workflow state from Temporal',
  request: { params: RolloutId },
  responses: { ...rolloutResponses.read('The rollout'), 400: problemResponse('Malformed id') },
});

const action = (name: 'pause' | 'resume' | 'abort', summary: string) =>
  createRoute({
    method: 'post',
    path: `/v1/rollouts/{id}/${name}`,
    tags: ['rollouts'],
    summary,
    request: { params: RolloutId, body: { ...jsonBody(ActionBody).body, required: false } },
    responses: {
      202: jsonResponse(Accepted, 'The signal was sent'),
      ...rolloutResponses.notFound,
      409: problemResponse('The rollout is not in a state where this applies'),
      422: problemResponse('Invalid body'),
    },
  });

export const pauseRollout = action('pause', 'Pause a running rollout (its current weights keep serving)');
export const resumeRollout = action('resume', 'Resume a paused rollout');
export const abortRollout = action('abort', 'Abort a rollout: roll back to the version it started from');

export const approveRollout = createRoute({
  method: 'post',
  path: '/v1/rollouts/{id}/approve',
  tags: ['rollouts'],
  summary: 'Approve the stage that awaits a person',
  request: { params: RolloutId, body: { ...jsonBody(ApproveBody).body, required: false } },
  responses: {
    200: jsonResponse(
      z.object({
        id: z.string(),
        stage: z.number().int().describe('0-based index of the stage approved'),
        approved: z.literal(true),
        approved_by: z.string().describe('The authenticated caller, recorded as the approver'),
      }),
      'The stage was approved',
    ),
    ...rolloutResponses.notFound,
    409: problemResponse('No stage awaits approval'),
    422: problemResponse('Invalid body'),
  },
});

export const revertRollout = createRoute({
  method: 'post',
  path: '/v1/rollouts/{id}/revert',
  tags: ['rollouts'],
  summary: 'Revert a promoted rollout: restore the config version it started from, as a new version',
  description:
    'Starts the `rollback` workflow. Refused with 409 unless the rollout is promoted and the routing config ' +
    'is still the version it promoted (a later change is never overwritten).',
  request: { params: RolloutId, body: { ...jsonBody(ActionBody).body, required: false } },
  responses: {
    200: jsonResponse(Reverted, 'The config the rollout started from is serving again'),
    202: jsonResponse(Reverted, 'The rollback runs; follow it by its id'),
    ...rolloutResponses.notFound,
    409: problemResponse('The rollout is not promoted, or the config changed since'),
    422: problemResponse('Invalid body'),
  },
});
