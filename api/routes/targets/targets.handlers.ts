import type { RouteHandler } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { TOTAL_BASIS_POINTS } from '../../../domain/model';
import { completeResponse } from '../../lib/headers';
import { notFound } from '../../../domain/errors';
import { decodeCursor, encodeCursor } from '../../lib/pagination';
import type { ApiDeps, AppBindings } from '../../lib/types';
import { configInputs, serializedConfig } from './config-read';
import type { createTarget, getTarget, listTargets } from './targets.routes';

export function targetHandlers(deps: ApiDeps) {
  const { targets } = deps.repos;

  const create: RouteHandler<typeof createTarget, AppBindings> = async (c) => {
    const body = c.req.valid('json');
    const weights = body.weights ?? { [body.arms[0]!.id]: TOTAL_BASIS_POINTS };
    const target = await targets.create({ ...body, weights });
    c.get('logger').info({ target: target.name, arms: target.arms.length }, 'target created');
    return c.json(target, 201, { location: `/v1/targets/${target.name}` });
  };

  const list: RouteHandler<typeof listTargets, AppBindings> = async (c) => {
    const { limit, cursor } = c.req.valid('query');
    const after = decodeCursor(cursor, (v): v is string => typeof v === 'string');
    const items = await targets.list({ limit: limit + 1, ...(after ? { after } : {}) });
    const page = items.slice(0, limit);
    return c.json(
      { items: page, next_cursor: items.length > limit ? encodeCursor(page.at(-1)!.name) : null },
      200,
    );
  };

  const get: RouteHandler<typeof getTarget, AppBindings> = async (c) => {
    const { target } = c.req.valid('param');
    const t = await targets.require(target);
    // The revision is the ETag that PATCH and the segment/arm changes take in If-Match.
    return c.json(t, 200, { etag: `"r${t.revision}"` });
  };

  // The Hono side of the config read; api/server.ts answers repeat polls before they reach it
  // (config-read.ts), with the same answer.
  const config = async (c: Context<AppBindings>): Promise<Response> => {
    const input = configInputs.validate(c);
    if (input instanceof Response) return input;
    const { target, segment } = input;
    // Applications poll this route; the cache answers from memory and learns of new versions by pub/sub.
    const cached = deps.caches?.routingConfigs;
    const cfg = cached ? await cached.get(target, segment) : await targets.currentConfig(target, segment);
    if (!cfg) {
      if (!(await targets.get(target))) throw notFound(`target "${target}"`);
      throw notFound(`segment "${segment}" of target "${target}"`);
    }
    const { body, etag } = serializedConfig(cfg);
    if (c.req.header('if-none-match') === etag) return completeResponse(c, null, 304, { etag });
    return completeResponse(c, body, 200, {
      'content-type': 'application/json',
      etag,
      'cache-control': 'no-cache',
    });
  };

  return { create, list, get, config };
}
