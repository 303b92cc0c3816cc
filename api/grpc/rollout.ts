/** llmopt.v1.RolloutService over app/rollouts.ts: list, read, steer, revert and watch canary rollouts. */
import { AppError } from '../../domain/errors';
import { RolloutState, TargetName } from '../../domain/model';
import { callerOfIdentity } from '../lib/caller';
import type { RolloutServiceServer } from '../../proto/gen/llmopt/v1/rollout';
import type { ApiDeps } from '../lib/types';
import { parse, RolloutId, sleep, toRollout } from './common';
import type { Guard } from './guard';

const FINISHED_ROLLOUT = new Set(['promoted', 'rolled_back', 'aborted', 'failed']);

/**
 * A rollout that cannot take the action is in the wrong state, not a duplicate: FAILED_PRECONDITION, the
 * status gRPC defines for it (REST answers the same conflict with 409).
 */
async function stateful<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof AppError && err.type === 'conflict')
      throw new AppError('precondition_failed', err.message, err.details);
    throw err;
  }
}

export function rolloutService(deps: ApiDeps, guard: Guard, pollMs: number): RolloutServiceServer {
  const { rollouts } = deps.services;
  const caller = callerOfIdentity;
  const idOf = (req: { id: string }) => parse(RolloutId, req.id, 'id');
  const reasonOf = (req: { reason: string }) => (req.reason ? { reason: req.reason } : {});
  /** Runs the action, then answers with the rollout as stored now. */
  const act = async (id: string, action: Promise<unknown>) => {
    await stateful(action);
    return toRollout(await rollouts.get(id));
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
    get: guard.unary(async (req) => toRollout(await rollouts.get(idOf(req)))),
    pause: guard.unary((req, who) => act(req.id, rollouts.pause(caller(who), idOf(req), reasonOf(req)))),
    resume: guard.unary((req, who) => act(req.id, rollouts.resume(caller(who), idOf(req), reasonOf(req)))),
    abort: guard.unary((req, who) => act(req.id, rollouts.abort(caller(who), idOf(req), reasonOf(req)))),
    approve: guard.unary((req, who) =>
      act(
        req.id,
        // -1 (or no stage) approves the stage that awaits, whichever it is.
        rollouts.approve(
          caller(who),
          idOf(req),
          req.stage !== undefined && req.stage >= 0 ? { stage: req.stage } : {},
        ),
      ),
    ),
    revert: guard.unary((req, who) => act(req.id, rollouts.revert(caller(who), idOf(req), reasonOf(req)))),
    watch: guard.serverStream(async (req, _id, emit, alive) => {
      let last = '';
      while (alive()) {
        const r = await rollouts.get(idOf(req));
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
