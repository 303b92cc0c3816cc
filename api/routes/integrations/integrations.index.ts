import { createRouter } from '../../lib/router';
import type { ApiDeps } from '../../lib/types';
import { integrationHandlers } from './integrations.handlers';
import * as routes from './integrations.routes';

export function integrationsRouter(deps: ApiDeps) {
  const h = integrationHandlers(deps);
  return createRouter()
    .openapi(routes.listIntegrations, h.list)
    .openapi(routes.getIntegration, h.get)
    .openapi(routes.putIntegration, h.put)
    .openapi(routes.deleteIntegration, h.remove)
    .openapi(routes.testIntegration, h.test)
    .openapi(routes.submitJudgeSamples, h.submitJudgeSamples);
}
