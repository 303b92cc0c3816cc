import { createRouter } from '../../lib/router';
import type { ApiDeps } from '../../lib/types';
import { optimizationHandlers } from './optimizations.handlers';
import * as routes from './optimizations.routes';

export function optimizationsRouter(deps: ApiDeps) {
  const h = optimizationHandlers(deps);
  return createRouter()
    .openapi(routes.triggerOptimization, h.trigger)
    .openapi(routes.listOptimizations, h.list)
    .openapi(routes.getOptimization, h.get)
    .openapi(routes.cancelOptimization, h.cancel);
}
