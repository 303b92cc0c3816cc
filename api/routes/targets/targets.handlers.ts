import type { RouteHandler } from '@hono/zod-openapi';
import { TOTAL_BASIS_POINTS, type RoutingConfig } from '../../../domain/model';
import { completeResponse } from '../../lib/headers';
import { configEtag } from './target-admin.handlers';
import { notFound } from '../../../domain/errors';
import { decodeCursor, encodeCursor } from '../../lib/pagination';
import type { ApiDeps, AppBindings } from '../../lib/types';
import type { createTarget, getConfig, getTarget, listTargets } from './targets.routes';

/**
 * The JSON and ETag of a routing config, computed once per config object: the cache hands out the same
 * object until a new version replaces it, so a poll costs a WeakMap lookup instead of a JSON.stringify.
 */
const SERIALIZED = new WeakMap<RoutingConfig, { body: string; etag: string }>();
function serialized(cfg: RoutingConfig): { body: string; etag: string } {
  let s = SERIALIZED.get(cfg);
  if (!s) {
    s = { body: JSON.stringify(cfg), etag: configEtag(cfg) };
    SERIALIZED.set(cfg, s);
  }
  return s;
}

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

  const config: RouteHandler<typeof getConfig, AppBindings> = async (c) => {
    const { target } = c.req.valid('param');
    const { segment } = c.req.valid('query');
    // Applications poll this route; the cache answers from memory and learns of new versions by pub/sub.
    const cached = deps.caches?.routingConfigs;
    const cfg = cached ? await cached.get(target, segment) : await targets.currentConfig(target, segment);
    if (!cfg) {
      if (!(await targets.get(target))) throw notFound(`target "${target}"`);
      throw notFound(`segment "${segment}" of target "${target}"`);
    }
    const { body, etag } = serialized(cfg);
    if (c.req.header('if-none-match') === etag) return completeResponse(c, null, 304, { etag });
    return completeResponse(c, body, 200, {
      'content-type': 'application/json',
      etag,
      'cache-control': 'no-cache',
    });
  };

  return { create, list, get, config };
}
