/** Contracts of the decisions resource: list and read decisions, approve or reject one awaiting a person. */
import { createRoute, z } from '@hono/zod-openapi';
import { Decision, DecisionKind, DecisionStatus, TargetName } from '../../../domain/model';
import { crudResponses, jsonBody, jsonResponse, problemResponse } from '../../lib/schemas';

const DecisionSchema = Decision.openapi('Decision');

export const DecisionId = z.object({
  id: z
    .string()
    .uuid('a decision id (uuid)')
    .openapi({ param: { name: 'id', in: 'path' } }),
});

// The one who decides is the authenticated caller: a body cannot name someone else.
const ApprovalBody = z
  .object({ reason: z.string().max(2000).optional() })
  .strict()
  .openapi('DecisionApproval');

const decisionResponses = crudResponses(DecisionSchema, 'No such decision');

export const listDecisions = createRoute({
  method: 'get',
  path: '/v1/decisions',
  tags: ['decisions'],
  summary: 'List decisions, newest first, by target, status and kind',
  request: {
    query: z.object({
      target: TargetName.optional(),
      status: DecisionStatus.optional(),
      kind: DecisionKind.optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50),
      cursor: z.string().max(500).optional(),
    }),
  },
  responses: decisionResponses.page('A page of decisions'),
});

export const getDecision = createRoute({
  method: 'get',
  path: '/v1/decisions/{id}',
  tags: ['decisions'],
  summary: 'Read a decision',
  request: { params: DecisionId },
  responses: { ...decisionResponses.read('The decision'), 400: problemResponse('Malformed id') },
});

const decide = (verb: 'approve' | 'reject', summary: string) =>
  createRoute({
    method: 'post',
    path: `/v1/decisions/{id}/${verb}`,
    tags: ['decisions'],
    summary,
    request: { params: DecisionId, body: { ...jsonBody(ApprovalBody).body, required: false } },
    responses: {
      200: jsonResponse(
        z.object({
          decision: DecisionSchema,
          rollout_id: z.string().nullable(),
          decided_by: z.string().describe('The authenticated caller, recorded as the one who decided'),
        }),
        'The decision with its new status (and the rollout it starts)',
      ),
      ...decisionResponses.notFound,
      409: problemResponse(
        'The decision does not await approval, its cycle no longer waits, or another rollout is active for its target and segment',
      ),
      422: problemResponse('Invalid body'),
    },
  });

export const approveDecision = decide(
  'approve',
  'Approve a decision awaiting a person: its canary rollout starts',
);
export const rejectDecision = decide('reject', 'Reject a decision awaiting a person');
