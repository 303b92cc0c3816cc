/** REST of administration: the wire format over app/admin.ts. */
import type { RouteHandler } from '@hono/zod-openapi';
import { callerOf } from '../../lib/caller';
import type { ApiDeps, AppBindings } from '../../lib/types';
import type { flushCache, getStats } from './admin.routes';

export function adminHandlers(deps: ApiDeps) {
  const service = deps.services.admin;

  const stats: RouteHandler<typeof getStats, AppBindings> = async (c) => {
    const s = await service.stats(callerOf(c));
    return c.json(
      {
        at: s.at.toISOString(),
        targets: s.targets,
        events: {
          today: s.eventsToday,
          last_hour: s.eventsLastHour,
          per_second_last_hour: Math.round((s.eventsLastHour / 3600) * 1000) / 1000,
        },
        open_rollouts: s.openRollouts,
        awaiting_decisions: s.awaitingDecisions,
        cycle_backlog: s.runningCycles,
        dead_letters: s.deadLetters,
      },
      200,
    );
  };

  const flush: RouteHandler<typeof flushCache, AppBindings> = async (c) => {
    const r = await service.flushCaches(callerOf(c));
    return c.json(
      { flushed_at: r.at.toISOString(), second_tier_keys: r.secondTierKeys, scope: 'every_process' as const },
      200,
    );
  };

  return { stats, flush };
}
