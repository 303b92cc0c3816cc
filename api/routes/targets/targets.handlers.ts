import type { RouteHandler } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { TOTAL_BASIS_POINTS, type RoutingConfig } from '../../../domain/model';
import { completeResponse } from '../../lib/headers';
import { configEtag } from './target-admin.handlers';
import { notFound } from '../../../domain/errors';
import { decodeCursor, encodeCursor } from '../../lib/pagination';
import { validationHook } from '../../lib/problem';
import { TargetParam } from '../../lib/schemas';
import type { ApiDeps, AppBindings } from '../../lib/types';
import { ConfigQuery, type createTarget, type getTarget, type listTargets } from './targets.routes';

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

type ConfigInput = { target: string; segment: string };

/**
 * The config route's path and query, validated by the route's own schemas as the OpenAPI validators
 * would (query first, answering the same problem+json), and remembered by URL: pollers repeat the same
 * few URLs, so a poll costs a map lookup instead of parsing the query and a zod parse of each part.
 * Bounded, as URLs come from callers; only valid ones are kept.
 */
function configInputs(max = 10_000): (c: Context<AppBindings>) => ConfigInput | Response {
  const valid = new Map<string, ConfigInput>();
  return (c) => {
    const url = c.req.url;
    const known = valid.get(url);
    if (known) return known;
    const given = c.req.queries('segment');
    // One value as a string, repeated values as the array the query validator would have passed.
    const segment = given?.length === 1 ? given[0] : given;
    const query = ConfigQuery.safeParse(segment === undefined ? {} : { segment });
    if (!query.success) return validationHook({ success: false, error: query.error, target: 'query' }, c)!;
    const param = TargetParam.safeParse({ target: c.req.param('target') });
    if (!param.success) return validationHook({ success: false, error: param.error, target: 'param' }, c)!;
    const input = { target: param.data.target, segment: query.data.segment };
    if (valid.size >= max) valid.clear();
    valid.set(url, input);
    return input;
  };
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

  const configInput = configInputs();
  const config = async (c: Context<AppBindings>): Promise<Response> => {
    const input = configInput(c);
    if (input instanceof Response) return input;
    const { target, segment } = input;
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
