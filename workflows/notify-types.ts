/** Inputs and results of the notification workflows. Pure types, shared with the API and activities. */
import type { DomainEvent } from '../domain/domain-events';

export const INTEGRATIONS = ['slack', 'github', 'jira'] as const;
export type NotifyIntegration = (typeof INTEGRATIONS)[number];

/** How hard a webhook delivery is tried; from the WEBHOOK_* settings of the process that starts it. */
export interface DeliveryPolicy {
  maxAttempts: number;
  initialIntervalMs: number;
  maxIntervalMs: number;
  /** Longest one attempt may take (the subscriber's timeout plus redirects). */
  attemptTimeoutMs: number;
  /** A worker that dies mid-attempt is noticed after this long, and the attempt is retried elsewhere. */
  heartbeatTimeoutMs: number;
  /** Attempts of one Slack, GitHub or Jira call. */
  integrationMaxAttempts: number;
}

export interface NotifyInput {
  event: DomainEvent;
  policy: DeliveryPolicy;
}

export interface RedeliverInput {
  deliveryId: string;
  policy: DeliveryPolicy;
}

export interface NotificationPlan {
  deliveries: { id: string; subscription_id: string }[];
  integrations: NotifyIntegration[];
}

export type DeliveryOutcome = {
  id: string;
  status: 'succeeded' | 'dead_lettered' | 'skipped';
  reason?: string;
};
export type IntegrationOutcome = {
  integration: NotifyIntegration;
  status: 'done' | 'failed';
  detail?: string;
};

export interface NotifyResult {
  eventId: string;
  deliveries: DeliveryOutcome[];
  integrations: IntegrationOutcome[];
}

/** Workflow ids: one notification run per event, one per redelivery. */
export const notifyWorkflowId = (eventId: string): string => `notify-${eventId}`;
export const redeliverWorkflowId = (deliveryId: string): string => `redeliver-${deliveryId}`;
export const NOTIFY_WORKFLOW_TYPES = {
  notifyEvent: 'notifyEvent',
  redeliverWebhook: 'redeliverWebhook',
} as const;
