/**
 * The one activity through which workflows publish domain events. It writes the event to the outbox
 * (idempotent on the event id) and, with `notify`, starts its delivery (the notifyEvent workflow on the
 * integrations queue), which never blocks the caller: delivery runs separately, so a dead Slack never
 * delays a rollback.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { DomainEvent } from '../../domain/domain-events';
import type { DeliveryPolicy } from '../../domain/delivery';
import { FAILURE_TYPES } from '../../domain/errors';
import type { Container } from '../../app/compose';
import type { PublishActivities } from '../../workflows/contracts';
import { createNotifyStarter, deliveryPolicy } from './notify-starter';

/** What publishing uses of the container. */
export type PublishContainer = Pick<Container, 'repos' | 'logger' | 'env' | 'taskQueues' | 'temporal'>;

export interface PublishOptions {
  /** Start the delivery of each stored event (default); false stores only (no integrations worker). */
  notify?: boolean;
  /** Delivery policy over the env's (tests shorten heartbeats and attempts). */
  policy?: Partial<DeliveryPolicy>;
}

export function createPublishActivities(c: PublishContainer, opts: PublishOptions = {}) {
  const events = c.repos.domainEvents;
  const deliver =
    opts.notify === false
      ? undefined
      : createNotifyStarter({
          taskQueue: c.taskQueues.integrations,
          policy: deliveryPolicy(c.env, opts.policy),
          // Without a client of its own the activity's client starts the run.
          ...(c.temporal ? { client: c.temporal } : {}),
        });
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
      const stored = await events.insert(parsed.data);
      if (deliver) {
        await deliver(parsed.data);
        // A crash before this line leaves the event to the outbox sweeper, which starts the same run id.
        await events.markNotifyStarted(parsed.data.id);
      }
      c.logger.info({ event: parsed.data.id, type: parsed.data.type, stored }, 'domain event published');
      return { stored };
    },
  } satisfies PublishActivities;
}
export type { PublishActivities };
