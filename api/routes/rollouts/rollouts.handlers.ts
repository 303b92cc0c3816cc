/** REST over app/rollouts.ts: the wire shapes and the caller's identity; the service decides. */
import type { RouteHandler } from '@hono/zod-openapi';
import { decodeCursor, pageOf } from '../../lib/pagination';
import type { ApiDeps, AppBindings } from '../../lib/types';
import { callerOf } from '../../lib/caller';
import { temporalUiUrl } from '../../lib/temporal-ui';
import type {
  abortRollout,
  approveRollout,
  getRollout,
  listRollouts,
  pauseRollout,
  resumeRollout,
  revertRollout,
} from './rollouts.routes';

interface Cursor {
  createdAt: string;
  id: string;
}
const isCursor = (v: unknown): v is Cursor =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as Cursor).createdAt === 'string' &&
  typeof (v as Cursor).id === 'string';

export function rolloutHandlers(deps: ApiDeps) {
  const { rollouts } = deps.services;

  const list: RouteHandler<typeof listRollouts, AppBindings> = async (c) => {
    const { target, state, limit, cursor } = c.req.valid('query');
    const before = decodeCursor(cursor, isCursor);
    const items = await rollouts.list({
      limit: limit + 1,
      ...(target ? { target } : {}),
      ...(state ? { state } : {}),
      ...(before ? { before } : {}),
    });
    return c.json(
      pageOf(items, limit, (l) => ({ createdAt: l.created_at, id: l.id })),
      200,
    );
  };

  const get: RouteHandler<typeof getRollout, AppBindings> = async (c) => {
    const { id } = c.req.valid('param');
    const { rollout, workflow: w } = await rollouts.describe(id);
    return c.json(
      {
        ...rollout,
        workflow: {
          status: w.status,
          paused: w.paused,
          awaiting_approval_stage: w.awaitingApprovalStage,
          rollback_id: w.rollbackId,
          temporal_ui_url: temporalUiUrl(deps, id),
        },
      },
      200,
    );
  };

  const pause: RouteHandler<typeof pauseRollout, AppBindings> = async (c) =>
    c.json(await rollouts.pause(callerOf(c), c.req.valid('param').id, c.req.valid('json')), 202);

  const resume: RouteHandler<typeof resumeRollout, AppBindings> = async (c) =>
    c.json(await rollouts.resume(callerOf(c), c.req.valid('param').id, c.req.valid('json')), 202);

  const abort: RouteHandler<typeof abortRollout, AppBindings> = async (c) =>
    c.json(await rollouts.abort(callerOf(c), c.req.valid('param').id, c.req.valid('json')), 202);

  const approve: RouteHandler<typeof approveRollout, AppBindings> = async (c) => {
    const r = await rollouts.approve(callerOf(c), c.req.valid('param').id, c.req.valid('json'));
    return c.json({ id: r.id, stage: r.stage, approved: true as const, approved_by: r.approvedBy }, 200);
  };

  const revert: RouteHandler<typeof revertRollout, AppBindings> = async (c) => {
    const r = await rollouts.revert(callerOf(c), c.req.valid('param').id, c.req.valid('json'));
    const body = {
      id: r.id,
      state: r.state,
      rollback_id: r.rollbackId,
      restored_version: r.restoredVersion,
      new_version: r.newVersion,
    };
    return r.state === 'rolled_back' ? c.json(body, 200) : c.json(body, 202);
  };

  return { list, get, pause, resume, abort, approve, revert };
}
