import type { RouteHandler } from '@hono/zod-openapi';
import { conflict, notFound } from '../../../domain/errors';
import type { ApiDeps, AppBindings } from '../../lib/types';
import type {
  approvePromptProposal,
  listPromptProposals,
  rejectPromptProposal,
} from './prompt-proposals.routes';

export function promptProposalHandlers(deps: ApiDeps) {
  const { judge } = deps.repos;

  const list: RouteHandler<typeof listPromptProposals, AppBindings> = async (c) => {
    const { target } = c.req.valid('param');
    const { status } = c.req.valid('query');
    return c.json({ items: await judge.listProposals(target, status) }, 200);
  };

  /** Answers an open proposal once; a second answer is a 409 naming the status it already has. */
  async function decide(id: string, status: 'approved' | 'rejected') {
    const decided = await judge.decideProposal(id, status);
    if (decided) return decided;
    const existing = await judge.getProposal(id);
    if (!existing) throw notFound(`prompt proposal ${id}`);
    throw conflict(`prompt proposal ${id} was already answered (it is ${existing.status})`, {
      proposal_status: existing.status,
    });
  }

  const approve: RouteHandler<typeof approvePromptProposal, AppBindings> = async (c) =>
    c.json(await decide(c.req.valid('param').id, 'approved'), 200);
  const reject: RouteHandler<typeof rejectPromptProposal, AppBindings> = async (c) =>
    c.json(await decide(c.req.valid('param').id, 'rejected'), 200);

  return { list, approve, reject };
}
