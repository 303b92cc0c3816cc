import type { RouteHandler } from '@hono/zod-openapi';
import { AppError, conflict, notFound } from '../../../domain/errors';
import { Arm as ArmSchema, TOTAL_BASIS_POINTS, type Target, type Weights } from '../../../domain/model';
import { DEFAULT_SEGMENT } from '../../../domain/names';
import { decodeCursor, encodeCursor } from '../../lib/pagination';
import type { ApiDeps, AppBindings } from '../../lib/types';
import type * as routes from './target-admin.routes';
import { configEtag, configEtagVersion } from './config-read';

/** A target's ETag is its revision, bumped by every change to it, its segments or its arms. */
export const targetEtag = (t: Pick<Target, 'revision'>) => `"r${t.revision}"`;

const unquote = (v: string) =>
  v
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');

function required(header: string | undefined): string {
  if (header === undefined || header.trim() === '') {
    throw new AppError('precondition_required', 'this update needs If-Match with the ETag you last read', {
      issues: [{ path: 'header.if-match', message: 'required' }],
    });
  }
  return header;
}

/** The revision an If-Match names; a value that is no revision of ours can never match. */
function revisionOf(header: string, target: string): number {
  const m = /^r(\d{1,9})$/.exec(unquote(header));
  if (!m)
    throw new AppError(
      'precondition_failed',
      `If-Match does not name a revision of target "${target}" (expected "r<revision>")`,
    );
  return Number(m[1]);
}

function checkWeights(weights: Weights, arms: string[]) {
  const known = new Set(arms);
  const unknown = Object.keys(weights).filter((a) => !known.has(a));
  if (unknown.length > 0) {
    throw new AppError(
      'validation',
      `weights name arm(s) not among the target's arms: ${unknown.join(', ')}`,
      {
        issues: unknown.map((a) => ({ path: `weights.${a}`, message: 'unknown arm' })),
      },
    );
  }
}

export function targetAdminHandlers(deps: ApiDeps) {
  const { targets } = deps.repos;
  const catalog = deps.repos.targetCatalog;
  // A deleted segment's config must stop being served everywhere: every process's routing-config cache
  // drops it through the invalidation bus (and Redis's copy goes), within milliseconds.
  const forgetConfigs = async (target: string, segments: string[]) => {
    const cache = deps.caches?.routingConfigs;
    if (cache) await Promise.all(segments.map((s) => cache.invalidate(target, s)));
  };

  const update: RouteHandler<typeof routes.updateTarget, AppBindings> = async (c) => {
    const { target } = c.req.valid('param');
    const ifMatch = required(c.req.valid('header')['if-match']);
    const body = c.req.valid('json');
    await targets.require(target);
    await catalog.update(target, revisionOf(ifMatch, target), body);
    const t = await targets.require(target);
    return c.json(t, 200, { etag: targetEtag(t) });
  };

  const remove: RouteHandler<typeof routes.deleteTarget, AppBindings> = async (c) => {
    const { target } = c.req.valid('param');
    const ifMatch = c.req.valid('header')['if-match'];
    const segments = (await targets.get(target))?.segments ?? [];
    await catalog.remove(target, ifMatch ? revisionOf(ifMatch, target) : undefined);
    await forgetConfigs(target, segments);
    return c.body(null, 204);
  };

  const segmentView = async (target: string, segment: string) => {
    const config = await targets.currentConfig(target, segment);
    if (!config) throw notFound(`segment "${segment}" of target "${target}"`);
    return { target, name: segment, config };
  };

  const listSegments: RouteHandler<typeof routes.listSegments, AppBindings> = async (c) => {
    const { target } = c.req.valid('param');
    const t = await targets.require(target);
    const items = await Promise.all(t.segments.map((s) => segmentView(target, s)));
    return c.json({ items }, 200);
  };

  const createSegment: RouteHandler<typeof routes.createSegment, AppBindings> = async (c) => {
    const { target } = c.req.valid('param');
    const ifMatch = c.req.valid('header')['if-match'];
    const body = c.req.valid('json');
    const t = await targets.require(target);
    let weights = body.weights;
    if (weights)
      checkWeights(
        weights,
        t.arms.map((a) => a.id),
      );
    weights ??= (await targets.currentConfig(target, DEFAULT_SEGMENT))?.weights ?? {
      [t.arms[0]!.id]: TOTAL_BASIS_POINTS,
    };
    await catalog.addSegment(target, body.name, weights, ifMatch ? revisionOf(ifMatch, target) : undefined);
    return c.json(await segmentView(target, body.name), 201, {
      location: `/v1/targets/${target}/segments/${body.name}`,
    });
  };

  const getSegment: RouteHandler<typeof routes.getSegment, AppBindings> = async (c) => {
    const { target, segment } = c.req.valid('param');
    await targets.require(target);
    return c.json(await segmentView(target, segment), 200);
  };

  const deleteSegment: RouteHandler<typeof routes.deleteSegment, AppBindings> = async (c) => {
    const { target, segment } = c.req.valid('param');
    const ifMatch = c.req.valid('header')['if-match'];
    if (segment === DEFAULT_SEGMENT)
      throw conflict(`the "${DEFAULT_SEGMENT}" segment serves unsegmented traffic and cannot be removed`);
    await catalog.removeSegment(target, segment, ifMatch ? revisionOf(ifMatch, target) : undefined);
    await forgetConfigs(target, [segment]);
    return c.body(null, 204);
  };

  const listArms: RouteHandler<typeof routes.listArms, AppBindings> = async (c) => {
    const { target } = c.req.valid('param');
    return c.json({ items: (await targets.require(target)).arms }, 200);
  };

  const findArm = async (target: string, arm: string) => {
    const found = (await targets.require(target)).arms.find((a) => a.id === arm);
    if (!found) throw notFound(`arm "${arm}" of target "${target}"`);
    return found;
  };

  const createArm: RouteHandler<typeof routes.createArm, AppBindings> = async (c) => {
    const { target } = c.req.valid('param');
    const ifMatch = c.req.valid('header')['if-match'];
    const arm = c.req.valid('json');
    await targets.require(target);
    await catalog.addArm(target, arm, ifMatch ? revisionOf(ifMatch, target) : undefined);
    return c.json(await findArm(target, arm.id), 201, { location: `/v1/targets/${target}/arms/${arm.id}` });
  };

  const getArm: RouteHandler<typeof routes.getArm, AppBindings> = async (c) => {
    const { target, arm } = c.req.valid('param');
    return c.json(await findArm(target, arm), 200);
  };

  const updateArm: RouteHandler<typeof routes.updateArm, AppBindings> = async (c) => {
    const { target, arm } = c.req.valid('param');
    const ifMatch = required(c.req.valid('header')['if-match']);
    const patch = c.req.valid('json');
    const current = await findArm(target, arm);
    const next = ArmSchema.parse({ ...current, ...patch, id: arm });
    await catalog.updateArm(target, next, revisionOf(ifMatch, target));
    const t = await targets.require(target);
    return c.json(
      t.arms.find((a) => a.id === arm)!,
      200,
      { etag: targetEtag(t) },
    );
  };

  const deleteArm: RouteHandler<typeof routes.deleteArm, AppBindings> = async (c) => {
    const { target, arm } = c.req.valid('param');
    const ifMatch = c.req.valid('header')['if-match'];
    await catalog.removeArm(target, arm, ifMatch ? revisionOf(ifMatch, target) : undefined);
    return c.body(null, 204);
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
    ...configHandlers(deps),
  };
}

/** A segment's routing config: its versions, read one at a time or as a history, and a new one written. */
function configHandlers(deps: ApiDeps) {
  const { targets } = deps.repos;

  const putConfig: RouteHandler<typeof routes.putConfig, AppBindings> = async (c) => {
    const { target } = c.req.valid('param');
    const { segment } = c.req.valid('query');
    const ifMatch = required(c.req.valid('header')['if-match']);
    const body = c.req.valid('json');
    const t = await targets.require(target);
    if (!t.segments.includes(segment)) throw notFound(`segment "${segment}" of target "${target}"`);
    checkWeights(
      body.weights,
      t.arms.map((a) => a.id),
    );
    const expectedVersion = configEtagVersion(ifMatch);
    if (expectedVersion === undefined) {
      throw new AppError(
        'precondition_failed',
        `If-Match does not name a version of ${target}/${segment} (expected the ETag of GET .../config)`,
      );
    }
    // The version number says which version the caller read; the ETag as a whole says it is still that
    // one (not the same number in a target deleted and created again since). Both are held in the write.
    const strong = ifMatch.trim().replace(/^W\//, '');
    // appendConfig goes through the shared repository, so the routing-config cache learns of the version.
    const cfg = await targets.appendConfig({
      target,
      segment,
      expectedVersion,
      matchesRead: (current) => configEtag(current) === strong,
      weights: body.weights,
      rolloutId: null,
      reason: body.reason,
    });
    return c.json(cfg, 200, { etag: configEtag(cfg) });
  };

  const history: RouteHandler<typeof routes.configHistory, AppBindings> = async (c) => {
    const { target } = c.req.valid('param');
    const { segment, limit, cursor } = c.req.valid('query');
    const before = decodeCursor(
      cursor,
      (v): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0,
    );
    const items = await targets.configHistory(target, segment, limit + 1, before);
    if (items.length === 0 && before === undefined) {
      await targets.require(target);
      throw notFound(`segment "${segment}" of target "${target}"`);
    }
    const page = items.slice(0, limit);
    return c.json(
      { items: page, next_cursor: items.length > limit ? encodeCursor(page.at(-1)!.version) : null },
      200,
    );
  };

  const version: RouteHandler<typeof routes.configVersion, AppBindings> = async (c) => {
    const { target, version: v } = c.req.valid('param');
    const { segment } = c.req.valid('query');
    const cfg = await targets.configVersion(target, segment, v);
    if (!cfg) throw notFound(`version ${v} of ${target}/${segment}`);
    return c.json(cfg, 200, { etag: configEtag(cfg) });
  };

  return { putConfig, history, version };
}
