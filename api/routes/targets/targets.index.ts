import { createRouter } from '../../lib/router';
import type { ApiDeps } from '../../lib/types';
import { targetHandlers } from './targets.handlers';
import * as routes from './targets.routes';

export function targetsRouter(deps: ApiDeps) {
  const h = targetHandlers(deps);
  return createRouter()
    .openapi(routes.createTarget, h.create)
    .openapi(routes.listTargets, h.list)
    .openapi(routes.getTarget, h.get)
    .openapi(routes.getConfig, h.config);
}
