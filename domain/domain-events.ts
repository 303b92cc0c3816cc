/**
 * Domain events: what the optimizer tells the outside world (webhook subscribers, Slack, GitHub, Jira).
 * Versioned payloads; the `id` is the receiver's idempotency key.
 */
import { z } from 'zod';

export const DOMAIN_EVENT_TYPES = [
  'decision.created',
  'decision.approved',
  'decision.rejected',
  'rollout.started',
  'rollout.stage_promoted',
  'rollout.paused',
  'rollout.promoted',
  'rollout.rolled_back',
  'anomaly.detected',
  'budget.threshold_crossed',
  'cycle.failed',
] as const;
export const DomainEventType = z.enum(DOMAIN_EVENT_TYPES);
export type DomainEventType = z.infer<typeof DomainEventType>;

export const DOMAIN_EVENT_VERSION = 1;

export const DomainEvent = z.object({
  /** Unique, stable across retries: derived from the workflow and step that emitted it. */
  id: z.string().min(1).max(300),
  type: DomainEventType,
  version: z.literal(DOMAIN_EVENT_VERSION),
  occurred_at: z.string().datetime(),
  target: z.string(),
  segment: z.string().nullable(),
  /** A one-line human summary, used as the title of Slack messages and issues. */
  summary: z.string(),
  /** Type-specific data: decision, rollout and stage ids, verdict numbers, config versions. */
  data: z.record(z.string(), z.unknown()),
});
export type DomainEvent = z.infer<typeof DomainEvent>;
