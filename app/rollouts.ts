/**
 * Rollout control, once for every door (REST, gRPC, Slack): read a rollout, steer a running one (pause,
 * resume, abort, approve a gated stage) and revert a promoted one. The adapters translate the wire format
 * and the caller's identity; this module decides, and answers with domain results or `AppError`s.
 *
 * - The actor recorded (in the signal or update Temporal keeps in the run's history, in the rollout's
 *   reason, in the revert) is always the authenticated caller: nothing a caller sends can name someone else.
 * - A rollout that is not running is a `conflict` for every steering operation.
 * - Pausing a paused rollout, or resuming one that is not paused, is a `conflict` (not a silent no-op).
 * - Stages are 0-based indexes everywhere, as in `stages[]` and `current_stage`.
 */
import type { Caller } from './caller';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { AppError, conflict, notFound } from '../domain/errors';
import type { RolloutState } from '../domain/model';
import { WORKFLOW_TYPES, workflowIds, type TaskQueues } from '../domain/names';
import type { Env } from '../platform/env';
import type { Logger } from '../platform/logger';
import type { Rollout, RolloutsRepo } from '../adapters/db/repos/rollouts';
import type { TargetsRepo } from '../adapters/db/repos/targets';
import {
  abortRolloutSignal,
  approveStageUpdate,
  pauseRolloutSignal,
  resumeRolloutSignal,
  rolloutStatusQuery,
  type RollbackInput,
  type RollbackResult,
  type RolloutStatus,
} from '../workflows/messages';
import { SegmentKey, TargetKey } from '../workflows/search-attributes';

export type { Caller };

/** What the service needs; the container of app/compose.ts has these fields. */
export interface RolloutsDeps {
  /** The targets repository is the cached one where there is a cache: a revert's version is announced. */
  repos: { rollouts: RolloutsRepo; targets: TargetsRepo };
  temporal: Client;
  taskQueues: TaskQueues;
  env: Env;
  logger: Logger;
}

export interface RolloutFilter {
  target?: string;
  state?: RolloutState;
  limit: number;
  /** Keyset: rows strictly older than this sort key. */
  before?: { createdAt: string; id: string };
}

/** A rollout with its run as Temporal sees it now. */
export interface RolloutView {
  /** The row, with the live state of the run laid over it while the run answers. */
  rollout: Rollout;
  workflow: {
    /** The run's status in lower case (`running`, `completed`, ...), or `unknown` when it has no run. */
    status: string;
    paused: boolean | null;
    awaitingApprovalStage: number | null;
    rollbackId: string | null;
  };
}

export interface ActionAccepted {
  id: string;
  action: 'pause' | 'resume' | 'abort';
  /** The state the rollout was in when the signal was sent. */
  state: RolloutState;
  detail: string;
}

export interface StageApproved {
  id: string;
  /** 0-based index of the stage approved. */
  stage: number;
  approvedBy: string;
}

export interface RevertOutcome {
  id: string;
  /** `rolled_back` once the restore is written; `rolling_back` while its run has not finished yet. */
  state: 'rolled_back' | 'rolling_back';
  rollbackId: string;
  restoredVersion: number;
  /** The version the restore wrote, or null while it runs. */
  newVersion: number | null;
}

/** How long a status query may wait for the rollout's worker before the answer comes from the row. */
const QUERY_TIMEOUT_MS = 3_000;
/** How long a revert waits for its rollback run before answering that it is under way. */
const REVERT_WAIT_MS = 15_000;

const within = <T>(promise: Promise<T>, ms: number): Promise<T | null> =>
  Promise.race([promise, new Promise<null>((resolve) => setTimeout(() => resolve(null), ms).unref())]);

/**
 * The permanent refusal a failed rollback run carries (the config moved on, or the version to restore is
 * gone), found by its failure type down the cause chain (workflow → activity → application failure).
 */
function refusal(err: unknown): ApplicationFailure | undefined {
  if (!(err instanceof WorkflowFailedError)) return undefined;
  for (let c: unknown = err.cause; c instanceof Error; c = c.cause) {
    if (c instanceof ApplicationFailure && (c.type === 'StaleConfigVersion' || c.type === 'TargetNotFound'))
      return c;
  }
  return undefined;
}

/** The run's status, and its live state while it runs and a worker answers (null otherwise). */
async function liveStatus(
  temporal: Client,
  id: string,
): Promise<{ status: string; live: RolloutStatus | null }> {
  const handle = temporal.workflow.getHandle(id);
  try {
    const d = await handle.describe();
    if (d.status.name !== 'RUNNING') return { status: d.status.name.toLowerCase(), live: null };
    // A query needs a worker; without one it would wait for the RPC deadline. Answer from the row instead.
    const answer = await within(
      handle.query(rolloutStatusQuery).catch(() => null),
      QUERY_TIMEOUT_MS,
    );
    return { status: 'running', live: answer };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { status: 'unknown', live: null };
    throw err;
  }
}

/** Sends a message to a running rollout; a run that closed since it was checked is a conflict too. */
async function send<T>(id: string, message: () => Promise<T>): Promise<T> {
  try {
    return await message();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw conflict(`rollout ${id} finished meanwhile; there is nothing to steer`);
    throw err;
  }
}

/**
 * Reverts a promoted rollout: starts `rollback` to restore the exact config version the rollout started
 * from, as a new version, only while the config is still the version the rollout promoted (a later change
 * by someone else is never overwritten). Waits up to REVERT_WAIT_MS for the restore; longer, it answers
 * `rolling_back` with the rollback run's id.
 */
async function revertPromoted(
  deps: RolloutsDeps,
  repos: { rollouts: RolloutsRepo; targets: Pick<TargetsRepo, 'currentConfig'> },
  caller: Caller,
  row: Rollout,
  req: { reason?: string },
): Promise<RevertOutcome> {
  const { id } = row;
  if (row.state !== 'promoted' || row.to_version === null)
    throw conflict(`rollout ${id} is ${row.state}; only a promoted rollout can be reverted`, {
      state: row.state,
    });
  const promoted = row.to_version;
  const current = await repos.targets.currentConfig(row.target, row.segment);
  if (current?.version !== promoted)
    throw conflict(
      `the routing config of ${row.target}/${row.segment} changed since rollout ${id} promoted v${promoted}` +
        ` (it is at v${current?.version ?? 'none'}); reverting would overwrite that change`,
      { state: row.state, promoted_version: promoted, current_version: current?.version ?? null },
    );

  const rollbackId = workflowIds.rollback(row.target, row.segment, row.from_version);
  const input: RollbackInput = {
    target: row.target,
    segment: row.segment,
    restoreVersion: row.from_version,
    trigger: 'manual',
    reason: `reverted by ${caller.actor}${req.reason ? `: ${req.reason}` : ''}`,
    rolloutId: id,
    decisionId: row.decision_id,
    taskQueues: deps.taskQueues,
    expectedCurrentVersion: promoted,
  };
  let run;
  try {
    run = await deps.temporal.workflow.start(WORKFLOW_TYPES.rollback, {
      workflowId: rollbackId,
      taskQueue: deps.taskQueues.orchestration,
      args: [input],
      typedSearchAttributes: [
        { key: TargetKey, value: row.target },
        { key: SegmentKey, value: row.segment },
      ],
      staticSummary: `Revert ${id} to v${row.from_version}: ${input.reason}`.slice(0, 400),
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      throw conflict(
        `a rollback of ${row.target}/${row.segment} to v${row.from_version} is already under way`,
        {
          state: row.state,
          rollback_id: rollbackId,
        },
      );
    throw err;
  }
  deps.logger.info({ rollout: id, rollbackId, actor: caller.actor }, 'rollout revert started');

  const settled = await within(
    run.result().then(
      (r: RollbackResult) => ({ result: r }),
      (err: unknown) => ({ err }),
    ),
    REVERT_WAIT_MS,
  );
  const pending: RevertOutcome = {
    id,
    state: 'rolling_back',
    rollbackId,
    restoredVersion: row.from_version,
    newVersion: null,
  };
  if (!settled) return pending;
  if ('err' in settled) {
    const refused = refusal(settled.err);
    if (refused) throw conflict(refused.message, { state: row.state, rollback_id: rollbackId });
    throw settled.err;
  }
  // After promotion the rollout's run is over: the revert is what changes its recorded outcome.
  await repos.rollouts.update(id, {
    state: 'rolled_back',
    to_version: settled.result.newVersion,
    reason: input.reason,
  });
  return { ...pending, state: 'rolled_back', newVersion: settled.result.newVersion };
}

export type RolloutsService = ReturnType<typeof createRolloutsService>;

export function createRolloutsService(deps: RolloutsDeps) {
  const { rollouts, targets } = deps.repos;
  const handle = (id: string) => deps.temporal.workflow.getHandle(id);

  async function requireRollout(id: string): Promise<Rollout> {
    const r = await rollouts.get(id);
    if (!r) throw notFound(`rollout "${id}"`);
    return r;
  }

  /**
   * The live state of a rollout that can still be steered, or the conflict that says why not. A running
   * rollout whose worker does not answer yields null: signals are durable and reach it when a worker is
   * back, so pause, resume and abort are still accepted then.
   */
  async function running(id: string, action: string): Promise<{ row: Rollout; live: RolloutStatus | null }> {
    const row = await requireRollout(id);
    const { status, live: s } = await liveStatus(deps.temporal, id);
    if (status !== 'running')
      throw conflict(`rollout ${id} is ${row.state}; there is nothing to ${action}`, { state: row.state });
    return { row, live: s };
  }

  const reasonOf = (reason: string | undefined) => (reason ? { reason } : {});

  return {
    list: (filter: RolloutFilter): Promise<Rollout[]> => rollouts.list(filter),

    async get(id: string): Promise<Rollout> {
      return requireRollout(id);
    },

    async describe(id: string): Promise<RolloutView> {
      const row = await requireRollout(id);
      const { status, live: s } = await liveStatus(deps.temporal, id);
      return {
        // While the run is live its query is fresher than the row (written after each step).
        rollout: s
          ? { ...row, state: s.state, current_stage: s.stage, weights: s.weights, verdicts: s.verdicts }
          : row,
        workflow: {
          status,
          paused: s?.paused ?? null,
          awaitingApprovalStage: s?.awaitingApproval ?? null,
          rollbackId: s?.rollbackId ?? null,
        },
      };
    },

    async pause(caller: Caller, id: string, req: { reason?: string } = {}): Promise<ActionAccepted> {
      const { live: s } = await running(id, 'pause');
      if (s?.paused) throw conflict(`rollout ${id} is already paused`, { state: s.state });
      await send(id, () =>
        handle(id).signal(pauseRolloutSignal, { by: caller.actor, ...reasonOf(req.reason) }),
      );
      return {
        id,
        action: 'pause',
        state: s?.state ?? 'progressing',
        detail: 'pause requested: progression holds at the next step',
      };
    },

    async resume(caller: Caller, id: string, req: { reason?: string } = {}): Promise<ActionAccepted> {
      const { live: s } = await running(id, 'resume');
      if (s && !s.paused)
        throw conflict(`rollout ${id} is not paused (it is ${s.state})`, { state: s.state });
      await send(id, () =>
        handle(id).signal(resumeRolloutSignal, { by: caller.actor, ...reasonOf(req.reason) }),
      );
      return { id, action: 'resume', state: s?.state ?? 'paused', detail: 'resume requested' };
    },

    async abort(caller: Caller, id: string, req: { reason?: string } = {}): Promise<ActionAccepted> {
      const { live: s } = await running(id, 'abort');
      await send(id, () =>
        handle(id).signal(abortRolloutSignal, { by: caller.actor, ...reasonOf(req.reason) }),
      );
      return {
        id,
        action: 'abort',
        state: s?.state ?? 'progressing',
        detail: 'abort requested: the rollout rolls back to the version it started from',
      };
    },

    /**
     * Approves the stage that awaits a person (`stage`, 0-based, names the one the caller means; another
     * stage awaiting is a conflict). The approver is the caller, carried by the update into the run's history.
     */
    async approve(caller: Caller, id: string, req: { stage?: number } = {}): Promise<StageApproved> {
      if (req.stage !== undefined && !(Number.isInteger(req.stage) && req.stage >= 0))
        throw new AppError('validation', 'invalid stage', {
          issues: [{ path: 'stage', message: 'a 0-based stage index' }],
        });
      const { row, live: s } = await running(id, 'approve');
      if (!s)
        throw new AppError(
          'unavailable',
          `rollout ${id} is running but no orchestration worker answers; retry`,
          {
            retryAfterSeconds: 5,
          },
        );
      if (s.awaitingApproval === null)
        throw conflict(`nothing awaits approval: rollout ${id} is ${s.state} at stage ${s.stage}`, {
          state: s.state,
        });
      if (req.stage !== undefined && req.stage !== s.awaitingApproval)
        throw conflict(`stage ${req.stage} does not await approval; stage ${s.awaitingApproval} does`, {
          state: s.state,
          awaiting_approval_stage: s.awaitingApproval,
        });
      try {
        const r = await send(id, () =>
          handle(id).executeUpdate(approveStageUpdate, {
            args: [{ stage: s.awaitingApproval!, by: caller.actor }],
          }),
        );
        return { id, stage: r.stage, approvedBy: caller.actor };
      } catch (err) {
        // The run's validator refused it: the state moved between the check above and the update.
        if (err instanceof WorkflowUpdateFailedError)
          throw conflict(err.cause?.message ?? `rollout ${id} refused the approval`, { state: row.state });
        throw err;
      }
    },

    /**
     * Reverts a promoted rollout: restores the config version it started from (see `revertPromoted`).
     */
    revert: async (caller: Caller, id: string, req: { reason?: string } = {}): Promise<RevertOutcome> =>
      revertPromoted(deps, { rollouts, targets }, caller, await requireRollout(id), req),
  };
}
