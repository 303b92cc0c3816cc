import { createGatewayService } from '../../../app/gateway';
import { createRouter } from '../../lib/router';
import type { ApiDeps } from '../../lib/types';
import { gatewayHandlers } from './gateway.handlers';

/**
 * The gateway, under /gateway/<provider format>/…: the paths the official clients build from their
 * base URL. Not in the OpenAPI document: the contract is the provider's own.
 */
export function gatewayRouter(deps: ApiDeps) {
  const gateway = createGatewayService(deps);
  const h = gatewayHandlers(gateway);
  const router = createRouter();
  router.post('/gateway/openai/v1/chat/completions', (c) => h.chatCompletions(c));
  router.get('/gateway/openai/v1/models', (c) => h.models(c));
  router.post('/gateway/anthropic/v1/messages', (c) => h.messages(c));
  return router;
}
