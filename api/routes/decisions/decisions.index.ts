import { createRouter } from '../../lib/router';
import type { ApiDeps } from '../../lib/types';
import { decisionHandlers } from './decisions.handlers';
import * as routes from './decisions.routes';

export function decisionsRouter(deps: ApiDeps) {
  const h = decisionHandlers(deps);
  return createRouter()
    .openapi(routes.listDecisions, h.list)
    .openapi(routes.getDecision, h.get)
    .openapi(routes.approveDecision, h.approve)
    .openapi(routes.rejectDecision, h.reject);
}
