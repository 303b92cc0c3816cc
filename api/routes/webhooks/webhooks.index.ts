import { DOMAIN_EVENT_TYPES } from '../../../domain/domain-events';
import { createRouter } from '../../lib/router';
import type { ApiDeps } from '../../lib/types';
import { webhookHandlers } from './webhooks.handlers';
import * as routes from './webhooks.routes';

export function webhooksRouter(deps: ApiDeps) {
  const h = webhookHandlers(deps);
  const router = createRouter()
    .openapi(routes.createSubscription, h.create)
    .openapi(routes.listSubscriptions, h.list)
    .openapi(routes.getSubscription, h.get)
    .openapi(routes.updateSubscription, h.update)
    .openapi(routes.deleteSubscription, h.remove)
    .openapi(routes.rotateSecret, h.rotate)
    .openapi(routes.listDeliveries, h.deliveries)
    .openapi(routes.getDelivery, h.delivery)
    .openapi(routes.redeliver, h.redeliver);
  // What subscribers receive: one documented payload per event type (OpenAPI 3.1 `webhooks`).
  for (const type of DOMAIN_EVENT_TYPES) {
    router.openAPIRegistry.registerWebhook({
      method: 'post',
      path: type,
      tags: ['webhook events'],
      summary: `${type} (payload version 1), signed as described in X-LLMOpt-Signature`,
      request: {
        headers: routes.WebhookHeaders,
        body: {
          content: { 'application/json': { schema: routes.webhookPayloadSchema(type) } },
          required: true,
        },
      },
      responses: {
        200: {
          description:
            'Any 2xx acknowledges the delivery. 408, 429 (Retry-After honoured) and 5xx are retried with backoff; 410 disables the subscription; other statuses dead-letter it.',
        },
      },
    });
  }
  return router;
}
