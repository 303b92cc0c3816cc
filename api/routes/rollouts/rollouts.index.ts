import { createRouter } from '../../lib/router';
import type { ApiDeps } from '../../lib/types';
import { rolloutHandlers } from './rollouts.handlers';
import * as routes from './rollouts.routes';

export function rolloutsRouter(deps: ApiDeps) {
  const h = rolloutHandlers(deps);
  return createRouter()
    .openapi(routes.listRollouts, h.list)
    .openapi(routes.getRollout, h.get)
    .openapi(routes.pauseRollout, h.pause)
    .openapi(routes.resumeRollout, h.resume)
    .openapi(routes.abortRollout, h.abort)
    .openapi(routes.approveRollout, h.approve)
    .openapi(routes.revertRollout, h.revert);
}
