import { createRouter } from '../../lib/router';
import type { ApiDeps } from '../../lib/types';
import { deadLetterHandlers } from './dead-letters.handlers';
import * as routes from './dead-letters.routes';

export function deadLettersRouter(deps: ApiDeps) {
  const h = deadLetterHandlers(deps);
  return createRouter().openapi(routes.listDeadLetters, h.list).openapi(routes.replayDeadLetter, h.replay);
}
