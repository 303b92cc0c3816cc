/**
 * A target's optimization cadence, once for every door: a Temporal Schedule per target (`optimize-<target>`)
 * whose action is the cycles service's scheduled start. Read it, set it (created, or changed in place),
 * pause or resume it, delete it.
 *
 * - The schedule's action comes from app/cycles.ts (`scheduledAction`): a scheduled cycle starts exactly
 *   as one started by a person, with the id every scheduled run extends.
 * - A cycle still running when the next is due is skipped, never stacked.
 * - An unknown target, or a target without a schedule, is `not_found`.
 */
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  type Client,
  type ScheduleDescription,
} from '@temporalio/client';
import { notFound } from '../domain/errors';
import type { TargetsRepo } from '../adapters/db/repos/targets';
import type { Caller } from './caller';
import type { CyclesService } from './cycles';

/** What the service needs; the container of app/compose.ts has these fields. */
export interface SchedulesDeps {
  repos: { targets: TargetsRepo };
  temporal: Client;
  cycles: Pick<CyclesService, 'scheduledAction'>;
}

/** One schedule per target; its id carries the business key like every workflow id. */
export const scheduleId = (target: string) => `optimize-${target}`;

export interface ScheduleView {
  target: string;
  scheduleId: string;
  intervalSeconds: number;
  paused: boolean;
  /** The next (at most five) times a cycle is due. */
  nextRuns: Date[];
  /** The last (at most five) cycles it started. */
  recentRuns: { workflowId: string; startedAt: Date }[];
}

const intervalSeconds = (d: ScheduleDescription): number => {
  const every = d.spec.intervals?.[0]?.every;
  return typeof every === 'number' ? Math.round(every / 1000) : Math.round(Number(every ?? 0));
};

const viewOf = (target: string, d: ScheduleDescription): ScheduleView => ({
  target,
  scheduleId: d.scheduleId,
  intervalSeconds: intervalSeconds(d),
  paused: d.state.paused,
  nextRuns: d.info.nextActionTimes.slice(0, 5),
  recentRuns: d.info.recentActions.slice(-5).map((a) => ({
    workflowId: 'workflow' in a.action ? a.action.workflow.workflowId : '',
    startedAt: a.takenAt,
  })),
});

export type SchedulesService = ReturnType<typeof createSchedulesService>;

export function createSchedulesService(deps: SchedulesDeps) {
  const schedules = deps.temporal.schedule;

  async function describe(target: string): Promise<ScheduleDescription> {
    try {
      return await schedules.getHandle(scheduleId(target)).describe();
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) throw notFound(`schedule of target "${target}"`);
      throw err;
    }
  }
  /** The target's schedule, the target checked first (so an unknown target says so). */
  async function existing(target: string): Promise<ScheduleDescription> {
    await deps.repos.targets.require(target);
    return describe(target);
  }
  async function setPaused(caller: Caller, target: string, paused: boolean): Promise<ScheduleView> {
    const before = await existing(target);
    if (before.state.paused !== paused) {
      const handle = schedules.getHandle(scheduleId(target));
      const note = `${paused ? 'paused' : 'resumed'} by ${caller.actor}`;
      await (paused ? handle.pause(note) : handle.unpause(note));
    }
    return viewOf(target, await describe(target));
  }

  return {
    get: async (_caller: Caller, target: string): Promise<ScheduleView> =>
      viewOf(target, await existing(target)),

    /** Creates the target's schedule, or changes its cadence and paused state in place. */
    async set(
      caller: Caller,
      target: string,
      req: { intervalSeconds: number; paused: boolean },
    ): Promise<ScheduleView> {
      // The cycles service's start, with the id every scheduled run extends (see workflowIds.cycleScheduled).
      const action = await deps.cycles.scheduledAction(caller, target, req.intervalSeconds);
      const spec = { intervals: [{ every: req.intervalSeconds * 1000 }] };
      try {
        await schedules.create({
          scheduleId: scheduleId(target),
          spec,
          action,
          // A cycle still running when the next is due is skipped, never stacked.
          policies: { overlap: 'SKIP', catchupWindow: '1 minute' },
          state: { paused: req.paused, note: `cadence set by ${caller.actor}` },
        });
      } catch (err) {
        if (!(err instanceof ScheduleAlreadyRunning)) throw err;
        await schedules
          .getHandle(scheduleId(target))
          .update((prev) => ({ ...prev, spec, action, state: { ...prev.state, paused: req.paused } }));
      }
      return viewOf(target, await describe(target));
    },

    /** No cycle starts until it is resumed; pausing a paused schedule changes nothing. */
    pause: (caller: Caller, target: string) => setPaused(caller, target, true),
    resume: (caller: Caller, target: string) => setPaused(caller, target, false),

    /** Deletes the schedule (cycles can still be started by hand); running cycles go on. */
    async remove(_caller: Caller, target: string): Promise<void> {
      await existing(target);
      await schedules.getHandle(scheduleId(target)).delete();
    },
  };
}
