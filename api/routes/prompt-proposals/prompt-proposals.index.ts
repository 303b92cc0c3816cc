import { createRouter } from '../../lib/router';
import type { ApiDeps } from '../../lib/types';
import { promptProposalHandlers } from './prompt-proposals.handlers';
import * as routes from './prompt-proposals.routes';

export function promptProposalsRouter(deps: ApiDeps) {
  const h = promptProposalHandlers(deps);
  return createRouter()
    .openapi(routes.listPromptProposals, h.list)
    .openapi(routes.approvePromptProposal, h.approve)
    .openapi(routes.rejectPromptProposal, h.reject);
}
