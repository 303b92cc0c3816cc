/**
 * Contracts of the prompt proposals resource: the prompt variants Claude drafted for a target (from a
 * concluded experiment's winner, `draftPromptVariants`), read and answered by a person. Drafted prompts
 * never go live on their own: an approved variant becomes an arm only when someone adds it.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { crudResponses, problemResponse, TargetParam } from '../../lib/schemas';

export const PromptProposal = z
  .object({
    id: z.string(),
    target: z.string(),
    segment: z.string(),
    base_arm: z.string().describe('The arm whose prompt the variants rewrite'),
    cycle_id: z.string().describe('The optimization cycle that asked for them'),
    decision_id: z.string().nullable().describe('The prompt experiment decision that named the winner'),
    reason: z.string(),
    base_template: z.string(),
    variants: z.array(z.object({ template: z.string(), rationale: z.string() })),
    status: z.enum(['proposed', 'approved', 'rejected']),
    model: z.string().describe('The Claude model that drafted them'),
    input_tokens: z.number().int(),
    output_tokens: z.number().int(),
    cost_usd: z.number(),
    created_at: z.string(),
  })
  .openapi('PromptProposal');

const ProposalId = z.object({
  id: z
    .string()
    .regex(/^pp_[0-9a-f-]{36}$/, 'a prompt proposal id (pp_<uuid>)')
    .openapi({ param: { name: 'id', in: 'path' } }),
});

const responses = crudResponses(PromptProposal, 'No such prompt proposal');

export const listPromptProposals = createRoute({
  method: 'get',
  path: '/v1/targets/{target}/prompt-proposals',
  tags: ['prompt proposals'],
  summary: "List a target's drafted prompt variants, newest first",
  request: {
    params: TargetParam,
    query: z.object({ status: z.enum(['proposed', 'approved', 'rejected']).optional() }),
  },
  responses: {
    200: {
      content: { 'application/json': { schema: z.object({ items: z.array(PromptProposal) }) } },
      description: 'The proposals',
    },
    400: problemResponse('Invalid target or query'),
  },
});

const answer = (verb: 'approve' | 'reject', summary: string) =>
  createRoute({
    method: 'post',
    path: `/v1/prompt-proposals/{id}/${verb}`,
    tags: ['prompt proposals'],
    summary,
    request: { params: ProposalId },
    responses: {
      ...responses.read('The proposal with its new status'),
      400: problemResponse('Malformed id'),
      409: problemResponse('The proposal was already answered'),
    },
  });

export const approvePromptProposal = answer(
  'approve',
  'Approve drafted prompt variants (recorded and audited; add an arm to put one in an experiment)',
);
export const rejectPromptProposal = answer('reject', 'Reject drafted prompt variants');
