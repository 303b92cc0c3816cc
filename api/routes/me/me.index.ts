/** GET /v1/me: what a console shows and enables for the signed-in caller. */
import type { RouteHandler } from '@hono/zod-openapi';
import { PERMISSIONS, rolesGrant } from '../../lib/permissions';
import { createRouter } from '../../lib/router';
import type { AppBindings } from '../../lib/types';
import { getMe } from './me.routes';

export function meRouter() {
  const me: RouteHandler<typeof getMe, AppBindings> = (c) => {
    const { id, actor, kind, roles } = c.get('identity');
    // The guard let no anonymous caller through (the route needs an authenticated identity).
    return c.json(
      {
        id,
        actor,
        kind: kind === 'jwt' ? ('jwt' as const) : ('api_key' as const),
        roles,
        permissions: PERMISSIONS.filter((p) => rolesGrant(roles, p)),
      },
      200,
    );
  };
  return createRouter().openapi(getMe, me);
}
