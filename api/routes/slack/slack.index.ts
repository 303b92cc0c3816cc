import { createRouter } from '../../lib/router';
import type { ApiDeps } from '../../lib/types';
import { slackHandlers } from './slack.handlers';
import * as routes from './slack.routes';

export function slackRouter(deps: ApiDeps) {
  const h = slackHandlers(deps);
  return createRouter().openapi(routes.slackCommand, h.command);
}
