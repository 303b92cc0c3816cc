/**
 * Operating the optimizer, once for every door: what an operator looks at first (how many targets, how
 * much telemetry today, what waits on people, what backs up) and emptying the caches of every process.
 *
 * - Every figure is one cheap query: counts over indexed columns, and today's events summed per target
 *   over the (target, window_start) index, never a scan of the whole history.
 * - The cycle backlog comes from Temporal visibility; when it does not answer in time the figure is null
 *   and the rest is still answered.
 * - A flush empties the shared second tier (Redis) first, then tells every process through the
 *   invalidation bus to drop its first tier, so no process refills from a stale second tier.
 */
import type { Client } from '@temporalio/client';
import type { Redis } from 'ioredis';
import { AppError } from '../domain/errors';
import { WORKFLOW_TYPES } from '../domain/names';
import type { Logger } from '../platform/logger';
import type { Db } from '../adapters/db/pool';
import { ACTIVE_ROLLOUT_STATES } from '../adapters/db/repos/rollouts';
import { FLUSH_ALL_NS, type InvalidationBus } from '../adapters/cache/bus';
import type { Caller } from './caller';

/** What the service needs; the container of app/compose.ts has these fields. */
export interface AdminDeps {
  db: Db;
  temporal: Client;
  logger: Logger;
  /** The invalidation bus; a process without one cannot reach the others (a flush is then `unavailable`). */
  bus?: InvalidationBus | undefined;
  /** The caches' second tier; absent without REDIS_URL. */
  redis?: Redis | undefined;
}

export interface AdminStats {
  /** When the figures were read. */
  at: Date;
  targets: number;
  /** llm.request events aggregated into today's windows (UTC, by event time), every shard. */
  eventsToday: number;
  /** The same over the windows that started in the last hour. */
  eventsLastHour: number;
  /** Rollouts not finished (pending, running, paused, awaiting approval). */
  openRollouts: number;
  /** Decisions waiting for a person's approval. */
  awaitingDecisions: number;
  /** Optimization cycles running now (Temporal visibility); null when visibility did not answer in time. */
  runningCycles: number | null;
  /** Ingest dead letters not replayed, and webhook deliveries that exhausted their attempts. */
  deadLetters: { ingest: number; webhooks: number };
}

export interface CacheFlushed {
  at: Date;
  /** Second-tier (Redis) entries deleted; 0 without Redis. */
  secondTierKeys: number;
}

/** Second-tier keys of every tiered cache (adapters/cache/tiered-cache.ts); hot windows and versions are state, not cache. */
const SECOND_TIER_PATTERN = 'llmopt:cache:*';
/** Visibility is asked with this deadline: the stats must answer even when Temporal is slow. */
const VISIBILITY_TIMEOUT_MS = 2_000;

const STATS_SQL = `
  WITH today AS (
    SELECT coalesce(sum(w.today), 0)::bigint AS today, coalesce(sum(w.hour), 0)::bigint AS hour
      FROM targets t,
      LATERAL (SELECT sum(count) FILTER (WHERE window_start >= $1) AS today,
                      sum(count) FILTER (WHERE window_start >= $2) AS hour
                 FROM window_aggregates WHERE target = t.name AND window_start >= LEAST($1, $2)) w
  )
  SELECT (SELECT count(*) FROM targets)::int AS targets,
         (SELECT today FROM today) AS events_today,
         (SELECT hour FROM today) AS events_last_hour,
         (SELECT count(*) FROM rollouts WHERE state = ANY($3))::int AS open_rollouts,
         (SELECT count(*) FROM decisions WHERE status = 'awaiting_approval')::int AS awaiting_decisions,
         (SELECT count(*) FROM ingest_dead_letters WHERE replayed_at IS NULL)::int AS dead_ingest,
         (SELECT count(*) FROM webhook_deliveries WHERE status = 'dead_lettered')::int AS dead_webhooks`;

interface StatsRow {
  targets: number;
  events_today: string;
  events_last_hour: string;
  open_rollouts: number;
  awaiting_decisions: number;
  dead_ingest: number;
  dead_webhooks: number;
}

export type AdminService = ReturnType<typeof createAdminService>;

export function createAdminService(deps: AdminDeps) {
  async function runningCycles(): Promise<number | null> {
    const query = `WorkflowType = '${WORKFLOW_TYPES.optimizationCycle}' AND ExecutionStatus = 'Running'`;
    let timer: NodeJS.Timeout | undefined;
    try {
      const counted = deps.temporal.workflow.count(query).then((r) => r.count);
      const late = new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), VISIBILITY_TIMEOUT_MS);
      });
      return await Promise.race([counted, late]);
    } catch (err) {
      deps.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'cycle backlog unreadable');
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Deletes every second-tier entry, a SCAN page at a time (never KEYS, which blocks Redis). */
  async function clearSecondTier(redis: Redis): Promise<number> {
    let deleted = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', SECOND_TIER_PATTERN, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
    return deleted;
  }

  return {
    async stats(_caller: Caller, now = new Date()): Promise<AdminStats> {
      const midnight = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
      const hourAgo = new Date(now.getTime() - 3_600_000);
      const [r, cycles] = await Promise.all([
        deps.db.query<StatsRow>(STATS_SQL, [midnight, hourAgo, ACTIVE_ROLLOUT_STATES]),
        runningCycles(),
      ]);
      const row = r.rows[0]!;
      return {
        at: now,
        targets: row.targets,
        eventsToday: Number(row.events_today),
        eventsLastHour: Number(row.events_last_hour),
        openRollouts: row.open_rollouts,
        awaitingDecisions: row.awaiting_decisions,
        runningCycles: cycles,
        deadLetters: { ingest: row.dead_ingest, webhooks: row.dead_webhooks },
      };
    },

    /** Empties the caches of every process that listens to the bus (every API replica, the workers). */
    async flushCaches(caller: Caller): Promise<CacheFlushed> {
      if (!deps.bus)
        throw new AppError('unavailable', 'cache invalidation is not configured in this process (no bus)');
      const secondTierKeys = deps.redis ? await clearSecondTier(deps.redis) : 0;
      await deps.bus.publish({ ns: FLUSH_ALL_NS, key: '*' });
      deps.logger.warn({ actor: caller.actor, secondTierKeys }, 'caches flushed on every process');
      return { at: new Date(), secondTierKeys };
    },
  };
}
