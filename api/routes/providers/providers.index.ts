import { createRouter } from '../../lib/router';
import type { ApiDeps } from '../../lib/types';
import { providerHandlers } from './providers.handlers';
import * as routes from './providers.routes';

export function providersRouter(deps: ApiDeps) {
  const h = providerHandlers(deps);
  return createRouter()
    .openapi(routes.listProviders, h.list)
    .openapi(routes.getProvider, h.get)
    .openapi(routes.putProvider, h.put)
    .openapi(routes.deleteProvider, h.remove);
}
