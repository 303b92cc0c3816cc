/** REST of decisions: lists and reads from the repository; answers through app/decisions.ts. */
import type { RouteHandler } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { callerOf } from '../../lib/caller';
import { decodeCursor, pageOf } from '../../lib/pagination';
import type { ApiDeps, AppBindings } from '../../lib/types';
import type { approveDecision, getDecision, listDecisions, rejectDecision } from './decisions.routes';

interface Cursor {
  createdAt: string;
  id: string;
}
const isCursor = (v: unknown): v is Cursor =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as Cursor).createdAt === 'string' &&
  typeof (v as Cursor).id === 'string';

export function decisionHandlers(deps: ApiDeps) {
  const { decisions } = deps.repos;
  const service = deps.services.decisions;

  const list: RouteHandler<typeof listDecisions, AppBindings> = async (c) => {
    const { target, status, kind, limit, cursor } = c.req.valid('query');
    const before = decodeCursor(cursor, isCursor);
    const items = await decisions.list({
      limit: limit + 1,
      ...(target ? { target } : {}),
      ...(status ? { status } : {}),
      ...(kind ? { kind } : {}),
      ...(before ? { before } : {}),
    });
    return c.json(
      pageOf(items, limit, (l) => ({ createdAt: l.created_at, id: l.id })),
      200,
    );
  };

  const get: RouteHandler<typeof getDecision, AppBindings> = async (c) => {
    return c.json(await decisions.require(c.req.valid('param').id), 200);
  };

  const answer = async (c: Context<AppBindings>, verb: 'approve' | 'reject', id: string) => {
    const body = (await c.req.json().catch(() => ({}))) as { reason?: string };
    const r = await service[verb](callerOf(c), id, body.reason ? { reason: body.reason } : {});
    return { decision: r.decision, rollout_id: r.rolloutId, decided_by: r.decidedBy };
  };

  const approve: RouteHandler<typeof approveDecision, AppBindings> = async (c) =>
    c.json(await answer(c, 'approve', c.req.valid('param').id), 200);
  const reject: RouteHandler<typeof rejectDecision, AppBindings> = async (c) =>
    c.json(await answer(c, 'reject', c.req.valid('param').id), 200);

  return { list, get, approve, reject };
}
