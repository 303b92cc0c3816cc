import type { RouteHandler } from '@hono/zod-openapi';
import { createProvidersService } from '../../../app/providers';
import { callerOf } from '../../lib/caller';
import type { ApiDeps, AppBindings } from '../../lib/types';
import type { deleteProvider, getProvider, listProviders, putProvider } from './providers.routes';

export function providerHandlers(deps: ApiDeps) {
  const service = createProvidersService(deps);

  const list: RouteHandler<typeof listProviders, AppBindings> = async (c) =>
    c.json({ items: await service.list(callerOf(c)) }, 200);

  const get: RouteHandler<typeof getProvider, AppBindings> = async (c) =>
    c.json(await service.get(callerOf(c), c.req.valid('param').name), 200);

  const put: RouteHandler<typeof putProvider, AppBindings> = async (c) => {
    const { name } = c.req.valid('param');
    const { provider, created } = await service.put(callerOf(c), name, c.req.valid('json'));
    if (created) c.header('location', `/v1/providers/${name}`);
    return created ? c.json(provider, 201) : c.json(provider, 200);
  };

  const remove: RouteHandler<typeof deleteProvider, AppBindings> = async (c) => {
    await service.remove(callerOf(c), c.req.valid('param').name);
    return c.body(null, 204);
  };

  return { list, get, put, remove };
}
