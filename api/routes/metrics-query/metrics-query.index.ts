import { unprocessableHook } from '../../lib/problem';
import { createRouter } from '../../lib/router';
import type { ApiDeps } from '../../lib/types';
import { metricsQueryHandlers } from './metrics-query.handlers';
import * as routes from './metrics-query.routes';

export function metricsQueryRouter(deps: ApiDeps) {
  const h = metricsQueryHandlers(deps);
  // Every refusal of this query is 422 naming the parameter, the range checks of the handler included.
  return createRouter().openapi(routes.getMetrics, h.get, unprocessableHook as never);
}
