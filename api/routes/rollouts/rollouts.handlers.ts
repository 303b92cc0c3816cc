import type { RouteHandler } from '@hono/zod-openapi';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { AppError, conflict, notFound } from '../../../domain/errors';
import { createRolloutsRepo, type Rollout } from '../../../adapters/db/repos/rollouts';
import {
  abortRolloutSignal,
  approveStageUpdate,
  pauseRolloutSignal,
  resumeRolloutSignal,
  rolloutStatusQuery,
  type RolloutStatus,
} from '../../../workflows/messages';
import { decodeCursor, pageOf } from '../../lib/pagination';
import type { ApiDeps, AppBindings } from '../../lib/types';
import { temporalUiUrl } from '../optimizations/optimizations.handlers';
import type {
  abortRollout,
  approveRollout,
  getRollout,
  listRollouts,
  pauseRollout,
  resumeRollout,
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

/** How long a status query may wait for the rollout's worker before the API answers from the row. */
const QUERY_TIMEOUT_MS = 3_000;

export function rolloutHandlers(deps: ApiDeps) {
  const rollouts = createRolloutsRepo(deps.db);

  async function require(id: string): Promise<Rollout> {
    const r = await rollouts.get(id);
    if (!r) throw notFound(`rollout "${id}"`);
    return r;
  }

  /** The live status of a running rollout, or null once its run is closed. */
  async function live(id: string): Promise<{ status: string; live: RolloutStatus | null }> {
    const handle = deps.temporal.workflow.getHandle(id);
    try {
      const d = await handle.describe();
      if (d.status.name !== 'RUNNING') return { status: d.status.name.toLowerCase(), live: null };
      // A query needs a worker; without one it would wait for the RPC deadline. Answer from the row instead.
      const answer = await Promise.race([
        handle.query(rolloutStatusQuery).catch(() => null),
        new Promise<null>((resolve) => setTimeout(() => resolve(null), QUERY_TIMEOUT_MS).unref()),
      ]);
      return { status: 'running', live: answer };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return { status: 'unknown', live: null };
      throw err;
    }
  }

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
    const row = await require(id);
    const { status, live: s } = await live(id);
    return c.json(
      {
        ...row,
        // While the run is live its query is fresher than the row (written after each step).
        ...(s ? { state: s.state, current_stage: s.stage, weights: s.weights, verdicts: s.verdicts } : {}),
        workflow: {
          status,
          paused: s?.paused ?? null,
          awaiting_approval_stage: s?.awaitingApproval ?? null,
          rollback_id: s?.rollbackId ?? null,
          temporal_ui_url: temporalUiUrl(deps, id),
        },
      },
      200,
    );
  };

  /**
   * Refuses a message the rollout cannot act on with 409 and the reason, before anything is sent. A
   * running rollout whose worker does not answer the status query yields null: signals are durable and
   * reach it when a worker is back, so pause, resume and abort are still accepted then.
   */
  async function running(id: string, action: string): Promise<RolloutStatus | null> {
    const row = await require(id);
    const { status, live: s } = await live(id);
    if (status !== 'running')
      throw conflict(`rollout ${id} is ${row.state}; there is nothing to ${action}`, { state: row.state });
    return s;
  }

  const pause: RouteHandler<typeof pauseRollout, AppBindings> = async (c) => {
    const { id } = c.req.valid('param');
    const body = (await c.req.json().catch(() => ({}))) as { by?: string; reason?: string };
    const s = await running(id, 'pause');
    if (s?.paused) throw conflict(`rollout ${id} is already paused`, { state: s.state });
    await deps.temporal.workflow.getHandle(id).signal(pauseRolloutSignal, body);
    return c.json(
      {
        id,
        action: 'pause',
        state: s?.state ?? 'progressing',
        detail: 'pause requested: progression holds at the next step',
      },
      202,
    );
  };

  const resume: RouteHandler<typeof resumeRollout, AppBindings> = async (c) => {
    const { id } = c.req.valid('param');
    const body = (await c.req.json().catch(() => ({}))) as { by?: string; reason?: string };
    const s = await running(id, 'resume');
    if (s && !s.paused) throw conflict(`rollout ${id} is not paused (it is ${s.state})`, { state: s.state });
    await deps.temporal.workflow.getHandle(id).signal(resumeRolloutSignal, body);
    return c.json({ id, action: 'resume', state: s?.state ?? 'paused', detail: 'resume requested' }, 202);
  };

  const abort: RouteHandler<typeof abortRollout, AppBindings> = async (c) => {
    const { id } = c.req.valid('param');
    const body = (await c.req.json().catch(() => ({}))) as { by?: string; reason?: string };
    const s = await running(id, 'abort');
    await deps.temporal.workflow.getHandle(id).signal(abortRolloutSignal, body);
    return c.json(
      {
        id,
        action: 'abort',
        state: s?.state ?? 'progressing',
        detail: 'abort requested: the rollout rolls back to the version it started from',
      },
      202,
    );
  };

  const approve: RouteHandler<typeof approveRollout, AppBindings> = async (c) => {
    const { id } = c.req.valid('param');
    const body = (await c.req.json().catch(() => ({}))) as { stage?: number; by?: string };
    if (!(await running(id, 'approve'))) {
      throw new AppError(
        'unavailable',
        `rollout ${id} is running but no orchestration worker answers; retry`,
        {
          retryAfterSeconds: 5,
        },
      );
    }
    try {
      const r = await deps.temporal.workflow.getHandle(id).executeUpdate(approveStageUpdate, {
        args: [{ ...(body.stage ? { stage: body.stage - 1 } : {}), ...(body.by ? { by: body.by } : {}) }],
      });
      return c.json({ id, stage: r.stage + 1, approved: true as const }, 200);
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError)
        throw conflict(err.cause?.message ?? 'the rollout refused the approval');
      if (err instanceof WorkflowNotFoundError)
        throw new AppError('conflict', `rollout ${id} finished meanwhile`);
      throw err;
    }
  };

  return { list, get, pause, resume, abort, approve };
}
