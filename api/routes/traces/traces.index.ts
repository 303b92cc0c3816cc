import { createRoute } from '@hono/zod-openapi';
import { createRouter } from '../../lib/router';
import type { ApiDeps } from '../../lib/types';
import { traceHandlers } from './traces.handlers';
import { postTracesDoc } from './traces.routes';

export function tracesRouter(deps: ApiDeps) {
  const router = createRouter();
  // Documented through the registry, served by a plain handler: OTLP bodies are JSON or protobuf.
  router.openAPIRegistry.registerPath(createRoute(postTracesDoc));
  const h = traceHandlers(deps);
  router.post('/v1/traces', (c) => h.post(c));
  return router;
}
