import type { RouteHandler } from '@hono/zod-openapi';
import { notFound } from '../../../domain/errors';
import type { ApiKeyRecord } from '../../../adapters/db/repos/api-keys';
import type { Security } from '../../middleware/security';
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

export function apiKeyHandlers(security: Security) {
  const { apiKeys } = security.repos;

  const create: RouteHandler<typeof createApiKey, AppBindings> = async (c) => {
    const body = c.req.valid('json');
    const { key, record } = await apiKeys.create({
      name: body.name,
      roles: body.roles,
      createdBy: c.get('identity').id,
      expiresAt: body.expires_at ?? null,
    });
    // A replica that cached this prefix as unknown (someone probed it) learns that it exists now.
    await security.announceKeyChange(record.prefix);
    c.get('logger').info({ key: record.prefix, roles: record.roles }, 'API key created');
    return c.json({ ...toApi(record), key }, 201, {
      location: `/v1/api-keys/${record.id}`,
      'cache-control': 'no-store',
    });
  };

  const list: RouteHandler<typeof listApiKeys, AppBindings> = async (c) => {
    const { limit, cursor, include_revoked } = c.req.valid('query');
    const before = decodeCursor(cursor, isCursor);
    const items = await apiKeys.list({
      limit: limit + 1,
      includeRevoked: include_revoked === 'true',
      ...(before ? { before } : {}),
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

  const get: RouteHandler<typeof getApiKey, AppBindings> = async (c) => {
    const { id } = c.req.valid('param');
    const record = await apiKeys.get(id);
    if (!record) throw notFound(`API key "${id}"`);
    return c.json(toApi(record), 200);
  };

  const revoke: RouteHandler<typeof revokeApiKey, AppBindings> = async (c) => {
    const { id } = c.req.valid('param');
    const record = await apiKeys.revoke(id);
    if (!record) throw notFound(`API key "${id}"`);
    // Every replica stops accepting it within a second (invalidation bus), this one at once.
    await security.announceKeyChange(record.prefix);
    c.get('logger').info({ key: record.prefix }, 'API key revoked');
    return c.json(toApi(record), 200);
  };

  return { create, list, get, revoke };
}
