/**
 * The one activity through which workflows publish domain events. It writes the event to the outbox
 * (idempotent on the event id) and hands it to the notification layer through `deliver`, which must
 * never block the caller: delivery runs separately, so a dead Slack never delays a rollback.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { DomainEvent } from '../../domain/domain-events';
import type { DomainEventsRepo } from '../../adapters/db/repos/domain-events';
import type { Logger } from '../../platform/logger';
import type { PublishActivities } from '../../workflows/contracts';
import { FAILURE_TYPES } from '../../domain/errors';

export interface PublishDeps {
  events: DomainEventsRepo;
  logger: Logger;
  /** Starts delivery of a stored event (the integrations layer); must return quickly. */
  deliver?: (event: DomainEvent) => Promise<void>;
}

export function createPublishActivities(deps: PublishDeps) {
  return {
    /** Publishes a domain event. Non-retryable `InvalidInput` for a malformed event. */
    async publishDomainEvent(event: DomainEvent): Promise<{ stored: boolean }> {
      const parsed = DomainEvent.safeParse(event);
      if (!parsed.success) {
        throw ApplicationFailure.nonRetryable(
          `invalid domain event: ${parsed.error.message}`,
          FAILURE_TYPES.InvalidInput,
        );
      }
      const stored = await deps.events.insert(parsed.data);
      if (deps.deliver) {
        await deps.deliver(parsed.data);
        // A crash before this line leaves the event to the outbox sweeper, which starts the same run id.
        await deps.events.markNotifyStarted(parsed.data.id);
      }
      deps.logger.info({ event: parsed.data.id, type: parsed.data.type, stored }, 'domain event published');
      return { stored };
    },
  } satisfies PublishActivities;
}
export type { PublishActivities };
