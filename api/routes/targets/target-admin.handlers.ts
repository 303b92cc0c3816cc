/** REST of a target's changes, segments, arms and routing-config versions, over app/targets.ts. */
import type { RouteHandler } from '@hono/zod-openapi';
import type { TargetsService } from '../../../app/targets';
import { callerOf } from '../../lib/caller';
import { decodeCursor, pageOf } from '../../lib/pagination';
import type { AppBindings } from '../../lib/types';
import type * as routes from './target-admin.routes';

const isVersion = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

export function targetAdminHandlers(targets: TargetsService) {
  const update: RouteHandler<typeof routes.updateTarget, AppBindings> = async (c) => {
    const { target, etag } = await targets.update(
      callerOf(c),
      c.req.valid('param').target,
      c.req.valid('header')['if-match'],
      c.req.valid('json'),
    );
    return c.json(target, 200, { etag });
  };

  const remove: RouteHandler<typeof routes.deleteTarget, AppBindings> = async (c) => {
    await targets.remove(callerOf(c), c.req.valid('param').target, c.req.valid('header')['if-match']);
    return c.body(null, 204);
  };

  const listSegments: RouteHandler<typeof routes.listSegments, AppBindings> = async (c) =>
    c.json({ items: await targets.listSegments(c.req.valid('param').target) }, 200);

  const createSegment: RouteHandler<typeof routes.createSegment, AppBindings> = async (c) => {
    const { target } = c.req.valid('param');
    const segment = await targets.createSegment(
      callerOf(c),
      target,
      c.req.valid('json'),
      c.req.valid('header')['if-match'],
    );
    return c.json(segment, 201, { location: `/v1/targets/${target}/segments/${segment.name}` });
  };

  const getSegment: RouteHandler<typeof routes.getSegment, AppBindings> = async (c) => {
    const { target, segment } = c.req.valid('param');
    return c.json(await targets.getSegment(target, segment), 200);
  };

  const deleteSegment: RouteHandler<typeof routes.deleteSegment, AppBindings> = async (c) => {
    const { target, segment } = c.req.valid('param');
    await targets.removeSegment(callerOf(c), target, segment, c.req.valid('header')['if-match']);
    return c.body(null, 204);
  };

  const listArms: RouteHandler<typeof routes.listArms, AppBindings> = async (c) =>
    c.json({ items: await targets.listArms(c.req.valid('param').target) }, 200);

  const createArm: RouteHandler<typeof routes.createArm, AppBindings> = async (c) => {
    const { target } = c.req.valid('param');
    const arm = await targets.createArm(
      callerOf(c),
      target,
      c.req.valid('json'),
      c.req.valid('header')['if-match'],
    );
    return c.json(arm, 201, { location: `/v1/targets/${target}/arms/${arm.id}` });
  };

  const getArm: RouteHandler<typeof routes.getArm, AppBindings> = async (c) => {
    const { target, arm } = c.req.valid('param');
    return c.json(await targets.getArm(target, arm), 200);
  };

  const updateArm: RouteHandler<typeof routes.updateArm, AppBindings> = async (c) => {
    const { target, arm: id } = c.req.valid('param');
    const { arm, etag } = await targets.updateArm(
      callerOf(c),
      target,
      id,
      c.req.valid('header')['if-match'],
      c.req.valid('json'),
    );
    return c.json(arm, 200, { etag });
  };

  const deleteArm: RouteHandler<typeof routes.deleteArm, AppBindings> = async (c) => {
    const { target, arm } = c.req.valid('param');
    await targets.removeArm(callerOf(c), target, arm, c.req.valid('header')['if-match']);
    return c.body(null, 204);
  };

  const putConfig: RouteHandler<typeof routes.putConfig, AppBindings> = async (c) => {
    const { config, etag } = await targets.setConfig(
      callerOf(c),
      c.req.valid('param').target,
      c.req.valid('query').segment,
      c.req.valid('header')['if-match'],
      c.req.valid('json'),
    );
    return c.json(config, 200, { etag });
  };

  const history: RouteHandler<typeof routes.configHistory, AppBindings> = async (c) => {
    const { target } = c.req.valid('param');
    const { segment, limit, cursor } = c.req.valid('query');
    const before = decodeCursor(cursor, isVersion);
    const items = await targets.history(target, segment, { limit: limit + 1, before });
    return c.json(
      pageOf(items, limit, (v) => v.version),
      200,
    );
  };

  const version: RouteHandler<typeof routes.configVersion, AppBindings> = async (c) => {
    const { target, version: v } = c.req.valid('param');
    const { config, etag } = await targets.version(target, c.req.valid('query').segment, v);
    return c.json(config, 200, { etag });
  };

  return {
    update,
    remove,
    listSegments,
    createSegment,
    getSegment,
    deleteSegment,
    listArms,
    createArm,
    getArm,
    updateArm,
    deleteArm,
    putConfig,
    history,
    version,
  };
}
