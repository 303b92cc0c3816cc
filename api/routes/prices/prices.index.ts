import { createPricesService } from '../../../app/prices';
import { createRouter } from '../../lib/router';
import type { ApiDeps } from '../../lib/types';
import { priceHandlers } from './prices.handlers';
import * as routes from './prices.routes';

export function pricesRouter(deps: ApiDeps) {
  // With this process's data plane, whose price book a change refreshes (the container has none); read at
  // each change, as a process may attach its data plane after building the app.
  const prices = createPricesService({
    repos: deps.repos,
    onChanged: () => deps.dataPlane?.onPricesChanged?.(),
  });
  const h = priceHandlers(prices);
  return createRouter()
    .openapi(routes.listPrices, h.list)
    .openapi(routes.priceHistory, h.history)
    .openapi(routes.setPrice, h.set);
}
