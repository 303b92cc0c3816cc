import type { RouteHandler } from '@hono/zod-openapi';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { conflict } from '../../../domain/errors';
import { workflowIds } from '../../../domain/names';
import { createRolloutsRepo } from '../../../adapters/db/repos/rollouts';
import { decideApprovalUpdate } from '../../../workflows/messages';
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
  const rollouts = createRolloutsRepo(deps.db);

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

  /** Sends the person's answer to the cycle that waits for it; the cycle records it and starts the rollout. */
  async function answer(id: string, approve: boolean, body: { by?: string; reason?: string }) {
    const d = await decisions.require(id);
    if (d.status !== 'awaiting_approval' || !d.cycle_id) {
      throw conflict(`decision ${id} does not await approval (it is ${d.status})`, {
        decision_status: d.status,
      });
    }
    if (approve) {
      const running = await rollouts.active(d.target, d.segment);
      if (running) {
        throw conflict(`a rollout is already active for ${d.target}/${d.segment}: ${running.id}`, {
          running_id: running.id,
        });
      }
    }
    try {
      await deps.temporal.workflow.getHandle(d.cycle_id).executeUpdate(decideApprovalUpdate, {
        args: [
          {
            decisionId: id,
            approve,
            ...(body.by ? { by: body.by } : {}),
            ...(body.reason ? { reason: body.reason } : {}),
          },
        ],
      });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError)
        throw conflict(err.cause?.message ?? `decision ${id} cannot be answered now`);
      if (err instanceof WorkflowNotFoundError)
        throw conflict(`the cycle that made decision ${id} is no longer waiting`);
      throw err;
    }
    return {
      decision: await decisions.require(id),
      rollout_id: approve ? workflowIds.rollout(d.target, d.id) : null,
    };
  }

  const body = async (c: { req: { json: () => Promise<unknown> } }) =>
    (await c.req.json().catch(() => ({}))) as { by?: string; reason?: string };

  const approve: RouteHandler<typeof approveDecision, AppBindings> = async (c) =>
    c.json(await answer(c.req.valid('param').id, true, await body(c)), 200);
  const reject: RouteHandler<typeof rejectDecision, AppBindings> = async (c) =>
    c.json(await answer(c.req.valid('param').id, false, await body(c)), 200);

  return { list, get, approve, reject };
}
