import type { RouteHandler } from '@hono/zod-openapi';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { AppError, conflict, notFound } from '../../../domain/errors';
import { cycleExecutionTimeoutMs } from '../../../domain/model';
import { WORKFLOW_TYPES, workflowIds } from '../../../domain/names';
import { TargetKey, SegmentKey } from '../../../workflows/search-attributes';
import type { CycleInput, CycleResult, CycleStatus } from '../../../workflows/types';
import type { ApiDeps, AppBindings } from '../../lib/types';
import type { getOptimization, triggerOptimization } from './optimizations.routes';

const STATUS: Record<
  string,
  'running' | 'completed' | 'failed' | 'canceled' | 'terminated' | 'timed_out' | 'continued_as_new'
> = {
  RUNNING: 'running',
  COMPLETED: 'completed',
  FAILED: 'failed',
  CANCELLED: 'canceled',
  TERMINATED: 'terminated',
  TIMED_OUT: 'timed_out',
  CONTINUED_AS_NEW: 'continued_as_new',
};

export function temporalUiUrl(deps: ApiDeps, workflowId: string): string {
  const base = deps.env.TEMPORAL_UI_URL ?? `http://127.0.0.1:${deps.env.TEMPORAL_UI_PORT}`;
  return `${base}/namespaces/${deps.env.TEMPORAL_NAMESPACE}/workflows/${encodeURIComponent(workflowId)}`;
}

export function optimizationHandlers(deps: ApiDeps) {
  const trigger: RouteHandler<typeof triggerOptimization, AppBindings> = async (c) => {
    const { target, segment } = c.req.valid('json');
    const t = await deps.repos.targets.require(target);
    if (segment && !t.segments.includes(segment))
      throw notFound(`segment "${segment}" of target "${target}"`);
    const id = workflowIds.cycle(target, Date.now());
    const input: CycleInput = {
      target,
      ...(segment ? { segment } : {}),
      trigger: 'api',
      taskQueues: deps.taskQueues,
    };
    try {
      const handle = await deps.temporal.workflow.start(WORKFLOW_TYPES.optimizationCycle, {
        workflowId: id,
        taskQueue: deps.taskQueues.orchestration,
        args: [input],
        workflowIdConflictPolicy: 'FAIL',
        typedSearchAttributes: [
          { key: TargetKey, value: target },
          ...(segment ? [{ key: SegmentKey, value: segment }] : []),
        ],
        staticSummary: `Optimization cycle for **${target}**${segment ? ` / ${segment}` : ''} (requested through the API)`,
        // The target's approval window plus the cycle's own work: an approval wait never times the run out.
        workflowExecutionTimeout: cycleExecutionTimeoutMs(t.policy),
      });
      c.get('logger').info({ workflowId: id, target }, 'optimization cycle started');
      return c.json(
        { id, run_id: handle.firstExecutionRunId, target, status_url: `/v1/optimizations/${id}` },
        202,
        {
          location: `/v1/optimizations/${id}`,
        },
      );
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError)
        throw conflict(`optimization ${id} is already running`, { running_id: id });
      throw err;
    }
  };

  const get: RouteHandler<typeof getOptimization, AppBindings> = async (c) => {
    const { id } = c.req.valid('param');
    const handle = deps.temporal.workflow.getHandle(id);
    let description;
    try {
      description = await handle.describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw notFound(`optimization "${id}"`);
      throw err;
    }
    if (description.type !== WORKFLOW_TYPES.optimizationCycle) throw notFound(`optimization "${id}"`);
    const status = STATUS[description.status.name] ?? 'unknown';
    const target = description.typedSearchAttributes.get(TargetKey) ?? null;
    let phase: string | null = null;
    let failure: string | null = null;
    let decisions: CycleResult['decisions'] = [];
    if (status === 'running') {
      phase = await handle
        .query<CycleStatus>('cycleStatus')
        .then((s) => s.phase)
        .catch(() => null);
    } else if (status === 'completed') {
      const result = (await handle.result()) as CycleResult;
      decisions = result.decisions;
      phase = 'done';
    } else if (status === 'failed') {
      failure = await handle.result().then(
        () => null,
        (err: unknown) => {
          const cause =
            err instanceof Error && 'cause' in err && err.cause instanceof Error ? err.cause : err;
          return cause instanceof Error ? cause.message : String(cause);
        },
      );
      phase = 'failed';
    }
    if (status === 'unknown')
      throw new AppError('unavailable', `optimization ${id} is in an unexpected state`);
    return c.json(
      {
        id,
        target,
        status,
        phase,
        started_at: description.startTime.toISOString(),
        closed_at: description.closeTime?.toISOString() ?? null,
        failure,
        decisions,
        temporal_ui_url: temporalUiUrl(deps, id),
      },
      200,
    );
  };

  return { trigger, get };
}
