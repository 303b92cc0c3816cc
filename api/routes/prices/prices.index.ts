import { createRouter } from '../../lib/router';
import type { ApiDeps } from '../../lib/types';
import { priceHandlers } from './prices.handlers';
import * as routes from './prices.routes';

export function pricesRouter(deps: ApiDeps) {
  const h = priceHandlers(deps);
  return createRouter()
    .openapi(routes.listPrices, h.list)
    .openapi(routes.priceHistory, h.history)
    .openapi(routes.setPrice, h.set);
}
