import { createKeysService } from '../../../app/keys';
import type { Security } from '../../middleware/security';
import { createRouter } from '../../lib/router';
import type { ApiDeps } from '../../lib/types';
import { apiKeyHandlers } from './api-keys.handlers';
import * as routes from './api-keys.routes';

export function apiKeysRouter(_deps: ApiDeps, security: Security) {
  // Over the key store this API authenticates with, whose authenticator a change must reach at once.
  const keys = createKeysService({
    apiKeys: security.repos.apiKeys,
    announce: (prefix) => security.announceKeyChange(prefix),
  });
  const h = apiKeyHandlers(keys);
  return createRouter()
    .openapi(routes.createApiKey, h.create)
    .openapi(routes.listApiKeys, h.list)
    .openapi(routes.getApiKey, h.get)
    .openapi(routes.revokeApiKey, h.revoke);
}
