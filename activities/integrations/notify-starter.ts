/**
 * The `deliver` hook of the publish activity: starts the `notifyEvent` workflow for a stored event and
 * returns at once. The workflow id `notify-<event id>` with REJECT_DUPLICATE makes a retried publish a
 * no-op, so an event is notified exactly once however often its publisher retries.
 */
import { Context } from '@temporalio/activity';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { DomainEvent } from '../../domain/domain-events';
import {
  NOTIFY_WORKFLOW_TYPES,
  notifyWorkflowId,
  type DeliveryPolicy,
  type NotifyInput,
} from '../../workflows/notify-types';
export { deliveryPolicy } from '../../app/integration-settings';

export interface NotifyStarterDeps {
  taskQueue: string;
  policy: DeliveryPolicy;
  /** Defaults to the client of the activity that calls it (the publish activity). */
  client?: Client;
}

export function createNotifyStarter(deps: NotifyStarterDeps): (event: DomainEvent) => Promise<void> {
  return async (event) => {
    const client = deps.client ?? Context.current().client;
    const input: NotifyInput = { event, policy: deps.policy };
    try {
      await client.workflow.start(NOTIFY_WORKFLOW_TYPES.notifyEvent, {
        taskQueue: deps.taskQueue,
        workflowId: notifyWorkflowId(event.id),
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        args: [input],
        staticSummary: `${event.type} for ${event.target}`,
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  };
}
