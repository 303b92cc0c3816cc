/**
 * Optimization cycles, once for every door (REST, gRPC, a target's schedule): start one, read one, list
 * them, cancel one. The adapters translate the wire format and the caller's identity; this module
 * decides, and answers with domain results or `AppError`s.
 *
 * - Ids follow the one scheme of `workflowIds` (domain/names.ts): by time, by idempotency key, or by
 *   the schedule. A cycle id names exactly one run (REJECT_DUPLICATE), so an id is never reused.
 * - The list is Temporal's visibility store, the only record of every cycle (schedules start them
 *   without passing through the API). Visibility follows a start by moments, so a cycle started just
 *   now may be missing from a list read at once; `describe` reads the run itself and never lags.
 * - Cancelling asks the run to stop: the cycle ends `canceled` at its next workflow task. What it
 *   already started goes on: each `canaryRollout` (and prompt-proposal draft) is a workflow of its own,
 *   started with ParentClosePolicy ABANDON so that a rollout is never cut off half-way by the cycle that
 *   decided it; stop a rollout with its own abort. A decision still awaiting a person stays as recorded
 *   and can no longer be answered (its cycle is gone: 409).
 */
import type { Caller } from './caller';
import { createHash, randomUUID } from 'node:crypto';
import {
  isGrpcServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
  type ScheduleOptionsStartWorkflowAction,
  type WorkflowExecutionDescription,
  type WorkflowExecutionInfo,
} from '@temporalio/client';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { z, type ZodType } from 'zod';
import { AppError, conflict, notFound } from '../domain/errors';
import {
  cycleExecutionTimeoutMs,
  SegmentName,
  TargetName,
  type Decision,
  type Target,
} from '../domain/model';
import { WORKFLOW_TYPES, workflowIds, type TaskQueues } from '../domain/names';
import type { Env } from '../platform/env';
import type { Logger } from '../platform/logger';
import type { DecisionsRepo } from '../adapters/db/repos/decisions';
import type { TargetsRepo } from '../adapters/db/repos/targets';
import { cycleStatusQuery } from '../workflows/optimization-cycle';
import { SegmentKey, TargetKey } from '../workflows/search-attributes';
import type { CycleInput } from '../workflows/types';

export type { Caller };

/** What the service needs; `ApiDeps` has these fields. */
export interface CyclesDeps {
  /** The container's repositories (app/compose.ts). */
  repos: { targets: TargetsRepo; decisions: DecisionsRepo };
  temporal: Client;
  taskQueues: TaskQueues;
  env: Env;
  logger: Logger;
}

export const CYCLE_STATUSES = [
  'running',
  'completed',
  'failed',
  'canceled',
  'terminated',
  'timed_out',
  'continued_as_new',
  'unknown',
] as const;
export type CycleStatusName = (typeof CYCLE_STATUSES)[number];

/** An id as `workflowIds` makes them: never a path or a query fragment. */
export const CycleId = z
  .string()
  .max(200)
  .regex(
    workflowIds.cyclePattern,
    'an optimization id (cycle-<target>-<time>, -key-<digest> or -scheduled-<time>)',
  );

/** The REST `Idempotency-Key` rule: 1 to 255 visible ASCII characters. */
export const IdempotencyKey = z.string().regex(/^[\x21-\x7e]{1,255}$/, '1 to 255 visible ASCII characters');

export interface CycleSummary {
  id: string;
  runId: string;
  /** From the run's search attributes; null only for a run recorded without them. */
  target: string | null;
  /** The one segment the cycle decides for; null when it covers every segment of its target. */
  segment: string | null;
  trigger: 'api' | 'schedule';
  status: CycleStatusName;
  startedAt: string;
  closedAt: string | null;
}

export interface CycleDetail extends CycleSummary {
  /** The workflow's phase while it runs and answers (null when its worker does not), `done` or `failed`. */
  phase: string | null;
  /** Why a failed cycle failed. */
  failure: string | null;
  /** Cancellation was asked for and the run has not ended yet. */
  cancelRequested: boolean;
  /** The decisions the cycle recorded so far, with their current status. */
  decisions: Decision[];
}

export interface CycleStarted {
  id: string;
  runId: string;
  target: string;
}

export interface CyclePage {
  items: CycleSummary[];
  /** Opaque; absent on the last page. */
  nextCursor: string | null;
}

const STATUS: Partial<Record<string, CycleStatusName>> = {
  RUNNING: 'running',
  COMPLETED: 'completed',
  FAILED: 'failed',
  CANCELLED: 'canceled',
  TERMINATED: 'terminated',
  TIMED_OUT: 'timed_out',
  CONTINUED_AS_NEW: 'continued_as_new',
};

/** How long a phase query may wait for the cycle's worker before the answer goes without the phase. */
const QUERY_TIMEOUT_MS = 3_000;
/** The first span of start times a list page looks through; the cursor carries the span that served. */
const FIRST_SPAN_MS = 60_000;
/** Pages ask visibility for this many rows at a time. */
const VISIBILITY_PAGE = 1000;

const within = <T>(promise: Promise<T>, ms: number): Promise<T | null> =>
  Promise.race([promise, new Promise<null>((resolve) => setTimeout(() => resolve(null), ms).unref())]);

/** A value the service was handed, checked here too: it ends up in ids and visibility queries. */
function field<T>(schema: ZodType<T>, value: unknown, path: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new AppError('validation', `invalid ${path}`, {
    issues: r.error.issues.map((i) => ({ path, message: i.message })),
  });
}

/** Scoped to the caller, as REST's Idempotency-Key is: two callers' keys never name one cycle. */
const keyDigest = (caller: Caller, key: string) =>
  createHash('sha256').update(`${caller.id}\u0000${key}`).digest('hex').slice(0, 20);

const SCHEDULED = /-scheduled-\d{4}-\d{2}-\d{2}T[\d:.]+Z$/;

function summaryOf(w: Omit<WorkflowExecutionInfo, 'raw'>): CycleSummary {
  return {
    id: w.workflowId,
    runId: w.runId,
    target: w.typedSearchAttributes.get(TargetKey) ?? null,
    segment: w.typedSearchAttributes.get(SegmentKey) ?? null,
    trigger: SCHEDULED.test(w.workflowId) ? 'schedule' : 'api',
    status: STATUS[w.status.name] ?? 'unknown',
    startedAt: w.startTime.toISOString(),
    closedAt: w.closeTime?.toISOString() ?? null,
  };
}

/** The list's order: newest start first; id, then run, break ties so that a cursor is exact. */
function newestFirst(a: CycleSummary, b: CycleSummary): number {
  const byTime = Date.parse(b.startedAt) - Date.parse(a.startedAt);
  if (byTime !== 0) return byTime;
  if (a.id !== b.id) return a.id < b.id ? 1 : -1;
  return a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0;
}

interface Cursor {
  /** Start time (ms), id and run of the last cycle served. */
  t: number;
  i: string;
  r: string;
  /** The span of start times that filled the page: where the next one starts looking. */
  s: number;
}

const CursorShape = z.object({
  t: z.number().int().nonnegative(),
  i: z.string().max(200),
  r: z.string().max(100),
  s: z.number().int().positive(),
});

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

function decodeCursor(cursor: string): Cursor {
  try {
    const r = CursorShape.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (r.success) return r.data;
  } catch {
    // answered below
  }
  throw new AppError('bad_request', 'cursor is not one this API issued', {
    issues: [{ path: 'cursor', message: 'invalid cursor' }],
  });
}

const iso = (ms: number) => new Date(ms).toISOString();

function finished(d: WorkflowExecutionDescription): AppError {
  const status = STATUS[d.status.name] ?? 'unknown';
  return conflict(
    `optimization ${d.workflowId} has finished (${status}); only a running cycle can be canceled`,
    // Not `status`: a problem document has its HTTP status under that name.
    { cycle_status: status },
  );
}

interface ListRequest {
  target?: string;
  limit: number;
  cursor?: string;
}

/** Every cycle the query finds, in visibility's own order (running first, then by close time). */
async function all(temporal: Client, query: string): Promise<CycleSummary[]> {
  const out: CycleSummary[] = [];
  for await (const w of temporal.workflow.list({ query, pageSize: VISIBILITY_PAGE })) out.push(summaryOf(w));
  return out;
}

const count = async (temporal: Client, query: string) => (await temporal.workflow.count(query)).count;

/** One page of cycles, newest start first (see the service's `list`). */
async function listCycles(temporal: Client, req: ListRequest): Promise<CyclePage> {
  const target = req.target === undefined ? undefined : field(TargetName, req.target, 'target');
  const limit = Math.min(Math.max(Math.trunc(req.limit) || 20, 1), 100);
  const after = req.cursor === undefined ? undefined : decodeCursor(req.cursor);
  const base =
    `WorkflowType = '${WORKFLOW_TYPES.optimizationCycle}'` +
    (target ? ` AND Target = '${target}'` : '') +
    // Start times are stored in microseconds and read back in milliseconds: the cursor's whole
    // millisecond is asked for, and the sort key decides within it.
    (after ? ` AND StartTime < '${iso(after.t + 1)}'` : '');
  const remaining = await count(temporal, base);
  const need = limit + 1;
  const until = after ? after.t + 1 : Date.now();
  let span = after?.s ?? FIRST_SPAN_MS;
  let rows: CycleSummary[] | undefined;
  while (!rows) {
    const from = until - span;
    const windowed = `${base} AND StartTime >= '${iso(Math.max(from, 0))}'`;
    // A small remainder is read whole; so is any span reaching back to the epoch (visibility
    // forgets closed runs past the namespace's retention, so counts may never add up).
    const n = remaining <= need * 4 || from <= 0 ? remaining : await count(temporal, windowed);
    const whole = n >= remaining;
    if (n >= need || whole) {
      const found = (await all(temporal, whole ? base : windowed))
        .filter(
          (c) =>
            !after ||
            newestFirst({ id: after.i, runId: after.r, startedAt: iso(after.t) } as CycleSummary, c) < 0,
        )
        .sort(newestFirst);
      if (found.length >= need || whole) rows = found;
    }
    if (!rows) span *= n === 0 ? 16 : Math.min(16, Math.max(2, Math.ceil((need * 1.5) / n)));
  }
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items,
    nextCursor:
      rows.length > limit && last
        ? encodeCursor({ t: Date.parse(last.startedAt), i: last.id, r: last.runId, s: span })
        : null,
  };
}

/** A run as the service answers it: the summary, its phase or failure, and its decisions. */
async function detailOf(
  temporal: Client,
  decisions: DecisionsRepo,
  d: WorkflowExecutionDescription,
): Promise<CycleDetail> {
  const handle = temporal.workflow.getHandle(d.workflowId);
  const summary = summaryOf(d);
  let phase: string | null = null;
  let failure: string | null = null;
  if (summary.status === 'running') {
    // A query needs a worker; without one it would wait for the RPC deadline.
    const status = await within(
      handle.query(cycleStatusQuery).catch(() => null),
      QUERY_TIMEOUT_MS,
    );
    phase = status?.phase ?? null;
  } else if (summary.status === 'completed') {
    phase = 'done';
  } else if (summary.status === 'failed') {
    phase = 'failed';
    failure = await handle.result().then(
      () => null,
      (err: unknown) => {
        const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
        return cause instanceof Error ? cause.message : String(cause);
      },
    );
  }
  return {
    ...summary,
    phase,
    failure,
    cancelRequested: summary.status === 'running' && d.raw.workflowExtendedInfo?.cancelRequested === true,
    decisions: await decisions.byCycle(d.workflowId),
  };
}

export type CyclesService = ReturnType<typeof createCyclesService>;

export function createCyclesService(deps: CyclesDeps) {
  const { targets, decisions } = deps.repos;
  const handle = (id: string) => deps.temporal.workflow.getHandle(id);

  /** Everything a start needs but its id: the same for a start now and for a schedule's action. */
  function startOptions(t: Target, input: CycleInput, summary: string) {
    return {
      taskQueue: deps.taskQueues.orchestration,
      args: [input] as [CycleInput],
      typedSearchAttributes: [
        { key: TargetKey, value: t.name },
        ...(input.segment ? [{ key: SegmentKey, value: input.segment }] : []),
      ],
      staticSummary: summary,
      // The target's approval window plus the cycle's own work: an approval wait never times the run out.
      workflowExecutionTimeout: cycleExecutionTimeoutMs(t.policy),
    };
  }

  async function requireTarget(name: unknown, segment?: unknown): Promise<Target> {
    const target = field(TargetName, name, 'target');
    const t = await targets.require(target);
    if (segment !== undefined) {
      const s = field(SegmentName, segment, 'segment');
      if (!t.segments.includes(s)) throw notFound(`segment "${s}" of target "${target}"`);
    }
    return t;
  }

  async function describeRun(id: string): Promise<WorkflowExecutionDescription> {
    let d: WorkflowExecutionDescription;
    try {
      d = await handle(id).describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw notFound(`optimization "${id}"`);
      throw err;
    }
    if (d.type !== WORKFLOW_TYPES.optimizationCycle) throw notFound(`optimization "${id}"`);
    return d;
  }

  const detail = (d: WorkflowExecutionDescription) => detailOf(deps.temporal, decisions, d);

  return {
    /**
     * Starts a cycle of a target (or of one of its segments). With an idempotency key, a repeat by the
     * same caller answers the run the key started, running or finished; without one, a second start
     * in the same millisecond is a `conflict`. `not_found` for an unknown target or segment.
     */
    async start(
      caller: Caller,
      req: { target: string; segment?: string; idempotencyKey?: string },
    ): Promise<CycleStarted> {
      const t = await requireTarget(req.target, req.segment);
      const key =
        req.idempotencyKey === undefined
          ? undefined
          : field(IdempotencyKey, req.idempotencyKey, 'idempotency_key');
      const id = key
        ? workflowIds.cycleKeyed(t.name, keyDigest(caller, key))
        : workflowIds.cycle(t.name, Date.now());
      const input: CycleInput = {
        target: t.name,
        ...(req.segment ? { segment: req.segment } : {}),
        trigger: 'api',
        taskQueues: deps.taskQueues,
      };
      const scope = req.segment ? ` / ${req.segment}` : '';
      try {
        const started = await deps.temporal.workflow.start(WORKFLOW_TYPES.optimizationCycle, {
          ...startOptions(
            t,
            input,
            `Optimization cycle for **${t.name}**${scope} (requested by ${caller.actor})`,
          ),
          workflowId: id,
          // A keyed repeat while its run is open gets that run; once it closed, the catch below finds it.
          workflowIdConflictPolicy: key ? 'USE_EXISTING' : 'FAIL',
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
        });
        deps.logger.info({ workflowId: id, target: t.name, by: caller.id }, 'optimization cycle started');
        return { id, runId: started.firstExecutionRunId, target: t.name };
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        if (key) return { id, runId: (await describeRun(id)).runId, target: t.name };
        throw conflict(`optimization ${id} is already running`, { running_id: id });
      }
    },

    /** A cycle's state, its phase while it runs, and the decisions it recorded. `not_found` otherwise. */
    async describe(_caller: Caller, id: string): Promise<CycleDetail> {
      return detail(await describeRun(field(CycleId, id, 'id')));
    },

    /**
     * Cycles of a target (or of every target), newest start first, `limit` (1 to 100) a page.
     *
     * Temporal's SQL visibility (the dev server's, and PostgreSQL's or MySQL's) has no ORDER BY: it
     * answers running runs first, then closed ones by close time. So a page is cut from start times
     * instead: count the cycles started in a span before the cursor, widen the span until it holds a
     * page, then read that span whole and sort it. Every cycle started before the cursor is in some
     * span, so no cycle is skipped or served twice, and the cursor keeps the span that served, so the
     * next page usually costs one count and one read.
     */
    async list(_caller: Caller, req: ListRequest): Promise<CyclePage> {
      return listCycles(deps.temporal, req);
    },

    /**
     * Asks a running cycle to stop; the answer is the cycle as it is right after (usually still
     * `running` with `cancelRequested`, then `canceled`). The reason Temporal records names the caller.
     * A cycle that has finished is a `conflict`; asking again while a cancellation is pending is
     * accepted. Rollouts the cycle started go on (see the module's comment).
     */
    async cancel(caller: Caller, id: string, req: { reason?: string } = {}): Promise<CycleDetail> {
      const d = await describeRun(field(CycleId, id, 'id'));
      if (d.status.name !== 'RUNNING') throw finished(d);
      try {
        // Through the service, not handle.cancel(): only the request carries a reason into history.
        await deps.temporal.workflowService.requestCancelWorkflowExecution({
          namespace: deps.env.TEMPORAL_NAMESPACE,
          workflowExecution: { workflowId: d.workflowId, runId: d.runId },
          identity: deps.temporal.options.identity,
          requestId: randomUUID(),
          reason: `canceled by ${caller.actor}${req.reason ? `: ${req.reason}` : ''}`,
        });
      } catch (err) {
        // NOT_FOUND: the run closed since it was described.
        if (isGrpcServiceError(err) && err.code === GrpcStatus.NOT_FOUND)
          throw finished(await describeRun(d.workflowId));
        throw err;
      }
      deps.logger.info(
        { workflowId: d.workflowId, by: caller.id },
        'optimization cycle cancellation requested',
      );
      return detail(await describeRun(d.workflowId));
    },

    /**
     * The action of a target's schedule: the start options of `start`, with the id every scheduled run
     * extends (see `workflowIds`). Read from the target's policy as it is now, so a schedule set again
     * after `approval_timeout_seconds` changed gives its runs the new execution timeout.
     */
    async scheduledAction(
      caller: Caller,
      target: string,
      intervalSeconds: number,
    ): Promise<ScheduleOptionsStartWorkflowAction<(input: CycleInput) => Promise<unknown>>> {
      const t = await requireTarget(target);
      const input: CycleInput = { target: t.name, trigger: 'schedule', taskQueues: deps.taskQueues };
      return {
        type: 'startWorkflow',
        workflowType: WORKFLOW_TYPES.optimizationCycle,
        workflowId: workflowIds.cycleScheduled(t.name),
        ...startOptions(
          t,
          input,
          `Scheduled optimization cycle for **${t.name}** (every ${intervalSeconds} s, set by ${caller.actor})`,
        ),
      };
    },
  };
}
