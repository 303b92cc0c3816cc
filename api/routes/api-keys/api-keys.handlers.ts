/** REST of API keys over app/keys.ts. */
import type { RouteHandler } from '@hono/zod-openapi';
import type { KeysService } from '../../../app/keys';
import type { ApiKeyRecord } from '../../../adapters/db/repos/api-keys';
import { callerOf } from '../../lib/caller';
import { isRole } from '../../lib/permissions';
import { decodeCursor, encodeCursor } from '../../lib/pagination';
import type { AppBindings } from '../../lib/types';
import type { createApiKey, getApiKey, listApiKeys, revokeApiKey } from './api-keys.routes';

type Cursor = { created_at: string; id: string };
const isCursor = (v: unknown): v is Cursor =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as Cursor).created_at === 'string' &&
  typeof (v as Cursor).id === 'string' &&
  !Number.isNaN(Date.parse((v as Cursor).created_at)) &&
  /^[0-9a-f-]{36}$/.test((v as Cursor).id);

/** Roles outside today's set (from a newer release) are not shown rather than failing the response. */
const toApi = (r: ApiKeyRecord) => ({ ...r, roles: r.roles.filter(isRole) });

export function apiKeyHandlers(keys: KeysService) {
  const create: RouteHandler<typeof createApiKey, AppBindings> = async (c) => {
    const { key, record } = await keys.create(callerOf(c), c.req.valid('json'));
    c.get('logger').info({ key: record.prefix, roles: record.roles }, 'API key created');
    return c.json({ ...toApi(record), key }, 201, {
      location: `/v1/api-keys/${record.id}`,
      'cache-control': 'no-store',
    });
  };

  const list: RouteHandler<typeof listApiKeys, AppBindings> = async (c) => {
    const { limit, cursor, include_revoked } = c.req.valid('query');
    const items = await keys.list({
      limit: limit + 1,
      includeRevoked: include_revoked === 'true',
      before: decodeCursor(cursor, isCursor),
    });
    const page = items.slice(0, limit);
    const last = page.at(-1);
    return c.json(
      {
        items: page.map(toApi),
        next_cursor:
          items.length > limit && last ? encodeCursor({ created_at: last.created_at, id: last.id }) : null,
      },
      200,
    );
  };

  const get: RouteHandler<typeof getApiKey, AppBindings> = async (c) =>
    c.json(toApi(await keys.get(c.req.valid('param').id)), 200);

  const revoke: RouteHandler<typeof revokeApiKey, AppBindings> = async (c) => {
    const record = await keys.revoke(callerOf(c), c.req.valid('param').id);
    c.get('logger').info({ key: record.prefix }, 'API key revoked');
    return c.json(toApi(record), 200);
  };

  return { create, list, get, revoke };
}
