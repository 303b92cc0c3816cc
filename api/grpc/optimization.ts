/** llmopt.v1.OptimizationService over app/cycles.ts: start, read, list and cancel cycles; watch decisions. */
import type { CycleDetail, CycleSummary } from '../../app/cycles';
import { callerOfIdentity } from '../lib/caller';
import { AppError } from '../../domain/errors';
import { TargetName } from '../../domain/model';
import type { Optimization, OptimizationServiceServer } from '../../proto/gen/llmopt/v1/optimization';
import { temporalUiUrl } from '../lib/temporal-ui';
import type { ApiDeps } from '../lib/types';
import { parse, sleep, toDecision } from './common';
import type { Guard } from './guard';

const caller = callerOfIdentity;

export function optimizationService(deps: ApiDeps, guard: Guard, pollMs: number): OptimizationServiceServer {
  const { cycles } = deps.services;
  const summary = (s: CycleSummary): Optimization => ({
    id: s.id,
    run_id: s.runId,
    target: s.target ?? '',
    segment: s.segment ?? '',
    trigger: s.trigger,
    status: s.status,
    started_at: s.startedAt,
    closed_at: s.closedAt ?? '',
    temporal_ui_url: temporalUiUrl(deps, s.id),
    decisions: [],
    phase: '',
    failure: '',
    cancel_requested: false,
  });
  const state = (d: CycleDetail): Optimization => ({
    ...summary(d),
    decisions: d.decisions.map(toDecision),
    phase: d.phase ?? '',
    failure: d.failure ?? '',
    cancel_requested: d.cancelRequested,
  });

  return {
    trigger: guard.unary(async (req, who) => {
      const started = await cycles.start(caller(who), {
        target: req.target,
        ...(req.segment ? { segment: req.segment } : {}),
        ...(req.idempotency_key ? { idempotencyKey: req.idempotency_key } : {}),
      });
      return { id: started.id, run_id: started.runId, target: started.target };
    }),
    get: guard.unary(async (req, who) => state(await cycles.describe(caller(who), req.id))),
    list: guard.unary(async (req, who) => {
      const page = await cycles.list(caller(who), {
        limit: req.limit || 20,
        ...(req.target ? { target: req.target } : {}),
        ...(req.cursor ? { cursor: req.cursor } : {}),
      });
      return { items: page.items.map(summary), next_cursor: page.nextCursor ?? '' };
    }),
    cancel: guard.unary(async (req, who) => {
      try {
        return state(await cycles.cancel(caller(who), req.id, req.reason ? { reason: req.reason } : {}));
      } catch (err) {
        // A finished cycle is in the wrong state, not a duplicate: FAILED_PRECONDITION (REST: 409).
        if (err instanceof AppError && err.type === 'conflict')
          throw new AppError('precondition_failed', err.message, err.details);
        throw err;
      }
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
