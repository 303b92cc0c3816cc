import type { Security } from '../../middleware/security';
import { createRouter } from '../../lib/router';
import type { ApiDeps } from '../../lib/types';
import { apiKeyHandlers } from './api-keys.handlers';
import * as routes from './api-keys.routes';

export function apiKeysRouter(_deps: ApiDeps, security: Security) {
  const h = apiKeyHandlers(security);
  return createRouter()
    .openapi(routes.createApiKey, h.create)
    .openapi(routes.listApiKeys, h.list)
    .openapi(routes.getApiKey, h.get)
    .openapi(routes.revokeApiKey, h.revoke);
}
