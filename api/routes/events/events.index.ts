import { createRoute } from '@hono/zod-openapi';
import { createRouter } from '../../lib/router';
import type { ApiDeps } from '../../lib/types';
import { eventHandlers } from './events.handlers';
import { postEventsDoc } from './events.routes';

export function eventsRouter(deps: ApiDeps) {
  const router = createRouter();
  // Documented through the registry, served by a plain handler: the batch is validated per event.
  router.openAPIRegistry.registerPath(createRoute(postEventsDoc));
  const h = eventHandlers(deps);
  router.post('/v1/events', (c) => h.post(c));
  return router;
}
