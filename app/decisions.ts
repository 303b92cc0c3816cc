/**
 * A person's answer to a decision that awaits one, once for every door: approve (its change is
 * carried out: a canary rollout starts, or an exploration is applied) or reject. The answer goes to the
 * cycle that waits for it (`decideApprovalUpdate`), which records it and acts.
 *
 * - The actor recorded (in the update Temporal keeps in the cycle's history, and in the
 *   `decision.approved` / `decision.rejected` event) is always the authenticated caller: nothing a
 *   caller sends can name someone else.
 * - A decision that does not await approval, whose cycle no longer waits (finished, canceled, expired),
 *   or (to approve) whose target and segment already have an active rollout is a `conflict`.
 */
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { z } from 'zod';
import { AppError, conflict } from '../domain/errors';
import type { Decision } from '../domain/model';
import { workflowIds } from '../domain/names';
import type { DecisionsRepo } from '../adapters/db/repos/decisions';
import type { RolloutsRepo } from '../adapters/db/repos/rollouts';
import { decideApprovalUpdate } from '../workflows/messages';
import type { Caller } from './caller';

/** What the service needs; `ApiDeps` has these fields. */
export interface DecisionsDeps {
  /** The container's repositories (app/compose.ts). */
  repos: { decisions: DecisionsRepo; rollouts: RolloutsRepo };
  temporal: Client;
}

export interface DecisionAnswered {
  /** The decision with its new status. */
  decision: Decision;
  /** The rollout an approval starts (its workflow id); null for a rejection. */
  rolloutId: string | null;
  /** The caller, recorded as the one who decided. */
  decidedBy: string;
}

const DecisionId = z.string().uuid('a decision id (uuid)');

export type DecisionsService = ReturnType<typeof createDecisionsService>;

export function createDecisionsService(deps: DecisionsDeps) {
  const { decisions, rollouts } = deps.repos;

  async function answer(
    caller: Caller,
    id: string,
    approve: boolean,
    reason: string | undefined,
  ): Promise<DecisionAnswered> {
    if (!DecisionId.safeParse(id).success)
      throw new AppError('validation', 'invalid id', {
        issues: [{ path: 'id', message: 'a decision id (uuid)' }],
      });
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
        args: [{ decisionId: id, approve, by: caller.actor, ...(reason ? { reason } : {}) }],
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
      rolloutId: approve ? workflowIds.rollout(d.target, d.id) : null,
      decidedBy: caller.actor,
    };
  }

  return {
    approve: (caller: Caller, id: string, req: { reason?: string } = {}) =>
      answer(caller, id, true, req.reason),
    reject: (caller: Caller, id: string, req: { reason?: string } = {}) =>
      answer(caller, id, false, req.reason),
  };
}
