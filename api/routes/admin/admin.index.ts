import { createRouter } from '../../lib/router';
import type { ApiDeps } from '../../lib/types';
import { adminHandlers } from './admin.handlers';
import * as routes from './admin.routes';

export function adminRouter(deps: ApiDeps) {
  const h = adminHandlers(deps);
  return createRouter().openapi(routes.getStats, h.stats).openapi(routes.flushCache, h.flush);
}
