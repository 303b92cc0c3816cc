/**
 * The outbox sweeper: a domain event stored by `publishDomainEvent` whose notify run was never started
 * (the process died between the insert and the start) is found here and its run started. The run id
 * `notify-<event id>` with REJECT_DUPLICATE makes a sweep that races a late publisher, or another
 * sweeper replica, a no-op, so an event is notified once.
 */
import type { DomainEvent } from '../../domain/domain-events';
import type { DomainEventsRepo } from '../../adapters/db/repos/domain-events';
import type { Logger } from '../../platform/logger';

export interface OutboxSweeperDeps {
  events: DomainEventsRepo;
  /** Starts the notify run of an event; must treat an already-started run as success. */
  deliver: (event: DomainEvent) => Promise<void>;
  logger: Logger;
  /** An event younger than this is left to its publisher, which may still be starting the run. */
  graceMs: number;
  /** Older events are not notified any more. */
  maxAgeMs: number;
  batchSize?: number;
}

/** One sweep: starts the notify run of each stranded event; returns how many were started. */
export async function sweepOutbox(deps: OutboxSweeperDeps): Promise<number> {
  const stranded = await deps.events.listUnnotified({
    graceMs: deps.graceMs,
    maxAgeMs: deps.maxAgeMs,
    limit: deps.batchSize ?? 100,
  });
  let started = 0;
  for (const event of stranded) {
    try {
      await deps.deliver(event);
      await deps.events.markNotifyStarted(event.id);
      started += 1;
    } catch (err) {
      // Temporal unreachable: the next sweep tries again.
      deps.logger.warn({ err, event: event.id }, 'outbox sweeper could not start a notify run');
    }
  }
  if (started > 0) deps.logger.info({ started }, 'outbox sweeper started stranded notify runs');
  return started;
}

/** Sweeps every `intervalMs` until stopped; a sweep never overlaps the previous one. */
export function startOutboxSweeper(deps: OutboxSweeperDeps & { intervalMs: number }): {
  stop(): Promise<void>;
} {
  let stopped = false;
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    if (stopped || running) return;
    running = sweepOutbox(deps)
      .catch((err: unknown) => deps.logger.warn({ err }, 'outbox sweep failed'))
      .finally(() => (running = undefined));
  }, deps.intervalMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
