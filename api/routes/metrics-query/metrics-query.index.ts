import { createRouter } from '../../lib/router';
import type { ApiDeps } from '../../lib/types';
import { metricsQueryHandlers } from './metrics-query.handlers';
import * as routes from './metrics-query.routes';

export function metricsQueryRouter(deps: ApiDeps) {
  const h = metricsQueryHandlers(deps);
  return createRouter().openapi(routes.getMetrics, h.get);
}
