/** REST of integration settings, their test message and the judge's samples: the wire format over app/integrations.ts. */
import type { RouteHandler } from '@hono/zod-openapi';
import { createIntegrationsService } from '../../../app/integrations';
import { callerOf } from '../../lib/caller';
import type { ApiDeps, AppBindings } from '../../lib/types';
import { createOutboundTester } from './outbound-test';
import type * as routes from './integrations.routes';

export function integrationHandlers(deps: ApiDeps) {
  // Over the app's own settings (allowed destinations), with the outbound path only the API hands in.
  const service = createIntegrationsService({
    ...deps,
    outbound: createOutboundTester({
      env: deps.env,
      settings: deps.settings,
      integrations: deps.repos.integrations,
    }),
  });

  const list: RouteHandler<typeof routes.listIntegrations, AppBindings> = async (c) =>
    c.json({ items: await service.list(callerOf(c)) }, 200);

  const get: RouteHandler<typeof routes.getIntegration, AppBindings> = async (c) =>
    c.json(await service.get(callerOf(c), c.req.valid('param').kind), 200);

  const put: RouteHandler<typeof routes.putIntegration, AppBindings> = async (c) => {
    const { kind } = c.req.valid('param');
    // Moving a stored secret to another address without entering it is an admin's call.
    const mayMoveSecrets = c.get('identity').roles.includes('admin');
    return c.json(await service.put(callerOf(c), kind, c.req.valid('json'), { mayMoveSecrets }), 200);
  };

  const remove: RouteHandler<typeof routes.deleteIntegration, AppBindings> = async (c) => {
    await service.remove(callerOf(c), c.req.valid('param').kind);
    return c.body(null, 204);
  };

  const test: RouteHandler<typeof routes.testIntegration, AppBindings> = async (c) => {
    const r = await service.test(callerOf(c), c.req.valid('param').kind);
    return c.json(
      {
        kind: r.kind,
        delivered: r.delivered,
        outcome: r.outcome,
        status: r.status,
        detail: r.detail,
        destination: r.destination,
        duration_ms: r.durationMs,
      },
      200,
    );
  };

  const submitJudgeSamples: RouteHandler<typeof routes.submitJudgeSamples, AppBindings> = async (c) =>
    c.json(await service.submitJudgeSamples(callerOf(c), c.req.valid('json').samples), 202);

  return { list, get, put, remove, test, submitJudgeSamples };
}
