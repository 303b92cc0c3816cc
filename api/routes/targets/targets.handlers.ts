/** REST of targets (create, list, read) and the Hono side of the config read, over app/targets.ts. */
import type { RouteHandler } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { serializedConfig, type TargetsService } from '../../../app/targets';
import { callerOf } from '../../lib/caller';
import { completeResponse } from '../../lib/headers';
import { decodeCursor, pageOf } from '../../lib/pagination';
import type { AppBindings } from '../../lib/types';
import { configInputs } from './config-read';
import type { createTarget, getTarget, listTargets } from './targets.routes';

export function targetHandlers(targets: TargetsService) {
  const create: RouteHandler<typeof createTarget, AppBindings> = async (c) => {
    const target = await targets.create(callerOf(c), c.req.valid('json'));
    c.get('logger').info({ target: target.name, arms: target.arms.length }, 'target created');
    return c.json(target, 201, { location: `/v1/targets/${target.name}` });
  };

  const list: RouteHandler<typeof listTargets, AppBindings> = async (c) => {
    const { limit, cursor } = c.req.valid('query');
    const after = decodeCursor(cursor, (v): v is string => typeof v === 'string');
    const items = await targets.list({ limit: limit + 1, ...(after ? { after } : {}) });
    return c.json(
      pageOf(items, limit, (t) => t.name),
      200,
    );
  };

  const get: RouteHandler<typeof getTarget, AppBindings> = async (c) => {
    const { target, etag } = await targets.get(c.req.valid('param').target);
    // The revision is the ETag that PATCH and the segment/arm changes take in If-Match.
    return c.json(target, 200, { etag });
  };

  // The Hono side of the config read; api/server.ts answers repeat polls before they reach it
  // (config-read.ts), with the same answer.
  const config = async (c: Context<AppBindings>): Promise<Response> => {
    const input = configInputs.validate(c);
    if (input instanceof Response) return input;
    const cfg = await targets.config(input.target, input.segment);
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
