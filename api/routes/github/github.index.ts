import { createRouter } from '../../lib/router';
import type { ApiDeps } from '../../lib/types';
import { githubHandlers } from './github.handlers';
import * as routes from './github.routes';

export function githubRouter(deps: ApiDeps) {
  const h = githubHandlers(deps);
  return createRouter().openapi(routes.githubWebhook, h.receive);
}
