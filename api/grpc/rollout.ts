/** llmopt.v1.RolloutService: list, read, steer and watch canary rollouts. */
import { WorkflowNotFoundError } from '@temporalio/client';
import { AppError } from '../../domain/errors';
import { RolloutState, TargetName } from '../../domain/model';
import { createRolloutsRepo } from '../../adapters/db/repos/rollouts';
import type { RolloutServiceServer } from '../../proto/gen/llmopt/v1/rollout';
import {
  abortRolloutSignal,
  approveStageUpdate,
  pauseRolloutSignal,
  resumeRolloutSignal,
} from '../../workflows/messages';
import type { ApiDeps } from '../lib/types';
import { parse, RolloutId, sleep, toRollout } from './common';
import type { Guard } from './guard';

const FINISHED_ROLLOUT = new Set(['promoted', 'rolled_back', 'aborted', 'failed']);

export function rolloutService(deps: ApiDeps, guard: Guard, pollMs: number): RolloutServiceServer {
  const rollouts = createRolloutsRepo(deps.db);
  const requireRollout = async (id: string) => {
    const r = await rollouts.get(parse(RolloutId, id, 'id'));
    if (!r) throw new AppError('not_found', `rollout "${id}" not found`);
    return r;
  };
  const signal = async (
    id: string,
    send: (h: ReturnType<typeof deps.temporal.workflow.getHandle>) => Promise<unknown>,
  ) => {
    const r = await requireRollout(id);
    if (FINISHED_ROLLOUT.has(r.state))
      throw new AppError('precondition_failed', `rollout "${id}" already finished (${r.state})`);
    try {
      await send(deps.temporal.workflow.getHandle(r.id));
    } catch (err) {
      if (err instanceof WorkflowNotFoundError)
        throw new AppError('precondition_failed', `rollout "${id}" is not running`);
      if (err instanceof Error && /rejected|not await|no stage/i.test(err.message))
        throw new AppError('precondition_failed', err.message);
      throw err;
    }
    return toRollout(await requireRollout(id));
  };

  return {
    list: guard.unary(async (req) => {
      const target = req.target ? parse(TargetName, req.target, 'target') : undefined;
      const state = req.state ? parse(RolloutState, req.state, 'state') : undefined;
      const items = await rollouts.list({
        limit: Math.min(Math.max(req.limit || 50, 1), 200),
        ...(target ? { target } : {}),
        ...(state ? { state } : {}),
      });
      return { items: items.map(toRollout) };
    }),
    get: guard.unary(async (req) => toRollout(await requireRollout(req.id))),
    pause: guard.unary((req, who) =>
      signal(req.id, (h) =>
        h.signal(pauseRolloutSignal, { by: who.actor, ...(req.reason ? { reason: req.reason } : {}) }),
      ),
    ),
    resume: guard.unary((req, who) =>
      signal(req.id, (h) =>
        h.signal(resumeRolloutSignal, { by: who.actor, ...(req.reason ? { reason: req.reason } : {}) }),
      ),
    ),
    abort: guard.unary((req, who) =>
      signal(req.id, (h) =>
        h.signal(abortRolloutSignal, { by: who.actor, ...(req.reason ? { reason: req.reason } : {}) }),
      ),
    ),
    approve: guard.unary((req, who) =>
      signal(req.id, (h) =>
        h.executeUpdate(approveStageUpdate, {
          args: [
            { by: who.actor, ...(req.stage !== undefined && req.stage >= 0 ? { stage: req.stage } : {}) },
          ],
        }),
      ),
    ),
    watch: guard.serverStream(async (req, _id, emit, alive) => {
      let last = '';
      while (alive()) {
        const r = await requireRollout(req.id);
        const stamp = `${r.updated_at}/${r.state}/${r.current_stage}`;
        if (stamp !== last) {
          last = stamp;
          await emit(toRollout(r));
        }
        if (FINISHED_ROLLOUT.has(r.state)) return;
        await sleep(pollMs);
      }
    }),
  };
}
