import { createTargetsService } from '../../../app/targets';
import { createRouter } from '../../lib/router';
import type { ApiDeps } from '../../lib/types';
import { targetHandlers } from './targets.handlers';
import * as routes from './targets.routes';
import { targetAdminHandlers } from './target-admin.handlers';
import * as admin from './target-admin.routes';

export function targetsRouter(deps: ApiDeps) {
  // Over this app's own repositories and cache, not the container's service: an API replica (or a test
  // standing one up beside another) serves from its own routing-config cache, which its fast path reads.
  const targets = createTargetsService(deps);
  const h = targetHandlers(targets);
  const a = targetAdminHandlers(targets);
  const router = createRouter();
  // The hottest read validates its input itself, memoized (targets.handlers.ts): the contract is
  // documented as declared, but no per-request zod validator middleware runs in front of it.
  router.openAPIRegistry.registerPath(routes.getConfig);
  router.get(routes.getConfig.path.replace('{target}', ':target'), h.config);
  return router
    .openapi(routes.createTarget, h.create)
    .openapi(routes.listTargets, h.list)
    .openapi(routes.getTarget, h.get)
    .openapi(admin.updateTarget, a.update)
    .openapi(admin.deleteTarget, a.remove)
    .openapi(admin.listSegments, a.listSegments)
    .openapi(admin.createSegment, a.createSegment)
    .openapi(admin.getSegment, a.getSegment)
    .openapi(admin.deleteSegment, a.deleteSegment)
    .openapi(admin.listArms, a.listArms)
    .openapi(admin.createArm, a.createArm)
    .openapi(admin.getArm, a.getArm)
    .openapi(admin.updateArm, a.updateArm)
    .openapi(admin.deleteArm, a.deleteArm)
    .openapi(admin.putConfig, a.putConfig)
    .openapi(admin.configHistory, a.history)
    .openapi(admin.configVersion, a.version);
}
