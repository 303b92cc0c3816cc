/** REST over app/cycles.ts: the wire shapes and the caller's identity; the service decides. */
import type { RouteHandler } from '@hono/zod-openapi';
import type { CycleDetail, CycleSummary } from '../../../app/cycles';
import { AppError } from '../../../domain/errors';
import { callerOf } from '../../lib/caller';
import { temporalUiUrl } from '../../lib/temporal-ui';
import type { ApiDeps, AppBindings } from '../../lib/types';
import type {
  cancelOptimization,
  getOptimization,
  listOptimizations,
  triggerOptimization,
} from './optimizations.routes';

/** Kept while api/routes/rollouts imports it from here; its home is api/lib/temporal-ui.ts. */

export function optimizationHandlers(deps: ApiDeps) {
  const { cycles } = deps.services;
  const summary = (s: CycleSummary) => ({
    id: s.id,
    run_id: s.runId,
    target: s.target,
    segment: s.segment,
    trigger: s.trigger,
    status: s.status,
    started_at: s.startedAt,
    closed_at: s.closedAt,
    temporal_ui_url: temporalUiUrl(deps, s.id),
  });
  const state = (d: CycleDetail) => ({
    ...summary(d),
    phase: d.phase,
    failure: d.failure,
    cancel_requested: d.cancelRequested,
    decisions: d.decisions,
  });

  const trigger: RouteHandler<typeof triggerOptimization, AppBindings> = async (c) => {
    const { target, segment } = c.req.valid('json');
    const key = c.req.header('idempotency-key');
    const started = await cycles.start(callerOf(c), {
      target,
      ...(segment ? { segment } : {}),
      ...(key !== undefined ? { idempotencyKey: key } : {}),
    });
    const url = `/v1/optimizations/${started.id}`;
    return c.json({ id: started.id, run_id: started.runId, target, status_url: url }, 202, { location: url });
  };

  const list: RouteHandler<typeof listOptimizations, AppBindings> = async (c) => {
    const { target, limit, cursor } = c.req.valid('query');
    try {
      const page = await cycles.list(callerOf(c), {
        limit,
        ...(target ? { target } : {}),
        ...(cursor !== undefined ? { cursor } : {}),
      });
      return c.json({ items: page.items.map(summary), next_cursor: page.nextCursor }, 200);
    } catch (err) {
      // The service names its own field; here the cursor is a query parameter.
      if (err instanceof AppError && err.details.issues?.[0]?.path === 'cursor')
        throw new AppError(err.type, err.message, {
          issues: [{ path: 'query.cursor', message: err.details.issues[0].message }],
        });
      throw err;
    }
  };

  const get: RouteHandler<typeof getOptimization, AppBindings> = async (c) =>
    c.json(state(await cycles.describe(callerOf(c), c.req.valid('param').id)), 200);

  const cancel: RouteHandler<typeof cancelOptimization, AppBindings> = async (c) => {
    const body = (await c.req.json().catch(() => ({}))) as { reason?: string };
    const canceled = await cycles.cancel(callerOf(c), c.req.valid('param').id, {
      ...(body.reason ? { reason: body.reason } : {}),
    });
    return c.json(state(canceled), 202);
  };

  return { trigger, list, get, cancel };
}
