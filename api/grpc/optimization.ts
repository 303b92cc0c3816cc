/** llmopt.v1.OptimizationService: start, read and list optimization cycles; watch a target's decisions. */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { AppError } from '../../domain/errors';
import { cycleExecutionTimeoutMs, SegmentName, TargetName } from '../../domain/model';
import { WORKFLOW_TYPES, workflowIds } from '../../domain/names';
import type { Optimization, OptimizationServiceServer } from '../../proto/gen/llmopt/v1/optimization';
import { TargetKey } from '../../workflows/search-attributes';
import type { ApiDeps } from '../lib/types';
import { temporalUiUrl } from '../routes/optimizations/optimizations.handlers';
import { CycleId, parse, sleep, toDecision } from './common';
import type { Guard } from './guard';

export function optimizationService(deps: ApiDeps, guard: Guard, pollMs: number): OptimizationServiceServer {
  async function describeCycle(id: string): Promise<Optimization> {
    let d;
    try {
      d = await deps.temporal.workflow.getHandle(id).describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError)
        throw new AppError('not_found', `optimization "${id}" not found`);
      throw err;
    }
    if (d.type !== WORKFLOW_TYPES.optimizationCycle)
      throw new AppError('not_found', `optimization "${id}" not found`);
    return {
      id,
      target: d.typedSearchAttributes.get(TargetKey) ?? '',
      status: d.status.name.toLowerCase(),
      started_at: d.startTime.toISOString(),
      closed_at: d.closeTime?.toISOString() ?? '',
      decisions: (await deps.repos.decisions.byCycle(id)).map(toDecision),
      temporal_ui_url: temporalUiUrl(deps, id),
    };
  }

  return {
    trigger: guard.unary(async (req) => {
      const target = parse(TargetName, req.target, 'target');
      const segment = req.segment ? parse(SegmentName, req.segment, 'segment') : undefined;
      const t = await deps.repos.targets.require(target);
      if (segment && !t.segments.includes(segment))
        throw new AppError('not_found', `segment "${segment}" of target "${target}" not found`);
      // An idempotency key names the cycle, so a repeat finds the run it started (per target).
      const key = req.idempotency_key ? parse(TargetName, req.idempotency_key, 'idempotency_key') : undefined;
      const id = key ? `cycle-${target}-key-${key}` : workflowIds.cycle(target, Date.now());
      try {
        const handle = await deps.temporal.workflow.start(WORKFLOW_TYPES.optimizationCycle, {
          workflowId: id,
          taskQueue: deps.taskQueues.orchestration,
          args: [{ target, ...(segment ? { segment } : {}), trigger: 'api', taskQueues: deps.taskQueues }],
          workflowIdConflictPolicy: key ? 'USE_EXISTING' : 'FAIL',
          typedSearchAttributes: [{ key: TargetKey, value: target }],
          staticSummary: `Optimization cycle for **${target}** (requested through gRPC)`,
          workflowExecutionTimeout: cycleExecutionTimeoutMs(t.policy),
        });
        return { id, run_id: handle.firstExecutionRunId, target };
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError)
          throw new AppError('conflict', `optimization ${id} is already running`);
        throw err;
      }
    }),
    get: guard.unary(async (req) => describeCycle(parse(CycleId, req.id, 'id'))),
    list: guard.unary(async (req) => {
      const target = req.target ? parse(TargetName, req.target, 'target') : undefined;
      const limit = Math.min(Math.max(req.limit || 20, 1), 100);
      const query = `WorkflowType = '${WORKFLOW_TYPES.optimizationCycle}'${target ? ` AND Target = '${target}'` : ''}`;
      const items: Optimization[] = [];
      for await (const w of deps.temporal.workflow.list({ query, pageSize: limit })) {
        items.push({
          id: w.workflowId,
          target: w.typedSearchAttributes.get(TargetKey) ?? '',
          status: w.status.name.toLowerCase(),
          started_at: w.startTime.toISOString(),
          closed_at: w.closeTime?.toISOString() ?? '',
          decisions: [],
          temporal_ui_url: temporalUiUrl(deps, w.workflowId),
        });
        if (items.length >= limit) break;
      }
      return { items };
    }),
    watchDecisions: guard.serverStream(async (req, _id, emit, alive) => {
      const target = parse(TargetName, req.target, 'target');
      await deps.repos.targets.require(target);
      const seen = new Set<string>();
      const initial = await deps.repos.decisions.list({ target, limit: 200 });
      const replay = Math.min(Math.max(req.replay, 0), 200);
      for (const d of initial.slice(0, replay).reverse()) await emit(toDecision(d));
      for (const d of initial) seen.add(d.id);
      while (alive()) {
        await sleep(pollMs);
        const recent = await deps.repos.decisions.list({ target, limit: 50 });
        for (const d of recent.reverse()) {
          if (seen.has(d.id)) continue;
          seen.add(d.id);
          await emit(toDecision(d));
        }
      }
    }),
  };
}
