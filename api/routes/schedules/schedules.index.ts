import { createRouter } from '../../lib/router';
import type { ApiDeps } from '../../lib/types';
import { scheduleHandlers } from './schedules.handlers';
import * as routes from './schedules.routes';

export function schedulesRouter(deps: ApiDeps) {
  const h = scheduleHandlers(deps);
  return createRouter()
    .openapi(routes.getSchedule, h.get)
    .openapi(routes.putSchedule, h.put)
    .openapi(routes.deleteSchedule, h.del);
}
