/**
 * Outbound deliveries and what failed on the way, once for every door: webhook subscriptions (create,
 * read, change, delete, rotate the signing secret), their deliveries and redelivery of one, and the
 * ingest dead letters (list, replay through the front door). The adapters translate the wire format and
 * the caller's identity; this module decides, and answers with domain results or `AppError`s.
 *
 * - A URL is checked where it is given (syntax and where it resolves now); every delivery checks again.
 * - A subscription keeps its signing secret when its URL changes: the secret proves deliveries come from
 *   us, it is no credential of the receiver.
 * - Redelivering to an inactive subscription is a `conflict`; so is replaying a dead letter twice.
 * - A replayed dead letter goes through the ingest front door like any event, as the caller's.
 */
import type { Client } from '@temporalio/client';
import { AppError, conflict, notFound } from '../domain/errors';
import type { TaskQueues } from '../domain/names';
import type { Env } from '../platform/env';
import type { Logger } from '../platform/logger';
import { checkDestination, destinationPolicy, DestinationRefused } from '../platform/outbound';
import type {
  DeliveryStatus,
  WebhookDelivery,
  WebhookSubscription,
  WebhooksRepo,
} from '../adapters/db/repos/webhooks';
import type { IngestFront } from '../pipeline/front';
import { ingestItems } from '../pipeline/front';
import type { AggregatesRepo, StoredDeadLetter } from '../pipeline/adapters/store';
import { NOTIFY_WORKFLOW_TYPES, redeliverWorkflowId, type RedeliverInput } from '../workflows/notify-types';
import type { Caller } from './caller';
import { deliveryPolicy } from './integration-settings';

/** What the service needs; the container of app/compose.ts has these fields. */
export interface WebhooksDeps {
  repos: { webhooks: WebhooksRepo };
  temporal: Client;
  taskQueues: TaskQueues;
  /** Allowed destinations (WEBHOOK_ALLOW*), the rotation overlap and the delivery policy. */
  env: Env;
  logger: Logger;
}

export interface SubscriptionInput {
  url: string;
  description: string;
  events: string[];
  targets: string[];
  active: boolean;
}

/** A subscription with its signing secret: answered once, at creation and at rotation. */
export type SubscriptionWithSecret = WebhookSubscription & { secret: string };

/** The longest overlap a rotation may keep the old secret signing: 30 days. */
export const MAX_ROTATION_OVERLAP_S = 30 * 86_400;

export type WebhooksService = ReturnType<typeof createWebhooksService>;

export function createWebhooksService(deps: WebhooksDeps) {
  const repo = deps.repos.webhooks;

  /** Registration-time check of a URL: syntax and where it resolves now (delivery checks again). */
  const checkUrl = async (url: string): Promise<void> => {
    try {
      await checkDestination(url, destinationPolicy(deps.env));
    } catch (err) {
      if (!(err instanceof DestinationRefused)) throw err;
      throw new AppError('validation', `url ${err.message.replace(/^URL /, '')}`, {
        issues: [{ path: 'url', message: err.message }],
      });
    }
  };
  const requireSubscription = async (id: string) => {
    const s = await repo.get(id);
    if (!s) throw notFound(`webhook subscription "${id}"`);
    return s;
  };
  const requireDelivery = async (id: string, delivery: string) => {
    const d = await repo.getDelivery(delivery, true);
    if (!d || d.subscription_id !== id)
      throw notFound(`delivery "${delivery}" of webhook subscription "${id}"`);
    return d;
  };
  const log = (caller: Caller) => deps.logger.child({ actor: caller.actor });

  return {
    async create(caller: Caller, input: SubscriptionInput): Promise<SubscriptionWithSecret> {
      await checkUrl(input.url);
      const { subscription, secret } = await repo.create(input);
      log(caller).info(
        { subscription: subscription.id, events: subscription.events },
        'webhook subscription created',
      );
      return { ...subscription, secret };
    },

    /** Subscriptions in id order, `limit` of them after the id `after`. */
    list: (_caller: Caller, q: { limit: number; after?: string }) => repo.list(q),

    get: (_caller: Caller, id: string) => requireSubscription(id),

    async update(caller: Caller, id: string, patch: Partial<SubscriptionInput>) {
      await requireSubscription(id);
      if (patch.url !== undefined) await checkUrl(patch.url);
      const updated = await repo.update(id, patch);
      if (!updated) throw notFound(`webhook subscription "${id}"`);
      log(caller).info({ subscription: id }, 'webhook subscription updated');
      return updated;
    },

    async remove(caller: Caller, id: string): Promise<void> {
      if (!(await repo.remove(id))) throw notFound(`webhook subscription "${id}"`);
      log(caller).info({ subscription: id }, 'webhook subscription deleted');
    },

    /** A new signing secret; the old one keeps signing for the overlap (WEBHOOK_ROTATION_OVERLAP_S by default). */
    async rotateSecret(
      caller: Caller,
      id: string,
      req: { overlapSeconds?: unknown } = {},
    ): Promise<SubscriptionWithSecret> {
      const o = req.overlapSeconds;
      if (
        o !== undefined &&
        (typeof o !== 'number' || !Number.isInteger(o) || o < 0 || o > MAX_ROTATION_OVERLAP_S)
      ) {
        throw new AppError(
          'validation',
          `overlap_seconds must be an integer from 0 to ${MAX_ROTATION_OVERLAP_S}`,
          {
            issues: [{ path: 'overlap_seconds', message: `an integer from 0 to ${MAX_ROTATION_OVERLAP_S}` }],
          },
        );
      }
      const overlap = o ?? deps.env.WEBHOOK_ROTATION_OVERLAP_S;
      const rotated = await repo.rotateSecret(id, overlap);
      if (!rotated) throw notFound(`webhook subscription "${id}"`);
      log(caller).info({ subscription: id, overlap }, 'webhook secret rotated');
      return { ...rotated.subscription, secret: rotated.secret };
    },

    /** Deliveries of a subscription, newest first, each with its attempts. */
    async deliveries(
      _caller: Caller,
      id: string,
      q: { limit: number; status?: DeliveryStatus; before?: { created_at: string; id: string } },
    ): Promise<WebhookDelivery[]> {
      await requireSubscription(id);
      return repo.listDeliveries(id, q);
    },

    delivery: (_caller: Caller, id: string, delivery: string) => requireDelivery(id, delivery),

    /** Sends a delivery again as a new delivery (its own attempts), through the redelivery workflow. */
    async redeliver(caller: Caller, id: string, delivery: string): Promise<WebhookDelivery> {
      const original = await requireDelivery(id, delivery);
      const sub = await requireSubscription(id);
      if (!sub.active)
        throw conflict(`webhook subscription "${id}" is inactive; reactivate it first`, {
          disabled_reason: sub.disabled_reason,
        });
      const fresh = await repo.createRedelivery(original);
      const input: RedeliverInput = { deliveryId: fresh.id, policy: deliveryPolicy(deps.env) };
      await deps.temporal.workflow.start(NOTIFY_WORKFLOW_TYPES.redeliverWebhook, {
        taskQueue: deps.taskQueues.integrations,
        workflowId: redeliverWorkflowId(fresh.id),
        args: [input],
        staticSummary: `redeliver ${original.event_type} ${original.event_id} to ${id}`,
      });
      log(caller).info(
        { subscription: id, delivery: fresh.id, of: original.id },
        'webhook redelivery started',
      );
      return fresh;
    },
  };
}

/** What the dead-letter operations need: the store, and the ingest front door of the process (if any). */
export interface DeadLettersDeps {
  repos: { aggregates: AggregatesRepo };
  /** Absent in a process without ingest: a replay is then `unavailable`. */
  ingest?: IngestFront | undefined;
}

/** A dead letter as stored, with its payload parsed when its bytes are exactly UTF-8 JSON. */
export interface DeadLetterView {
  letter: StoredDeadLetter;
  /** The payload, or undefined when it is not UTF-8 JSON. */
  payload: { value: unknown } | undefined;
}

export interface DeadLetterReplayed {
  id: number;
  accepted: number;
  replayedAt: Date;
}

/** The payload as JSON when its bytes are UTF-8 JSON, exactly; otherwise undefined. */
function parsePayload(raw: Buffer): { value: unknown } | undefined {
  const text = raw.toString('utf8');
  // Invalid UTF-8 would come back as U+FFFD: not what arrived, so not offered as the payload.
  if (!Buffer.from(text, 'utf8').equals(raw)) return undefined;
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return undefined;
  }
}

export type DeadLettersService = ReturnType<typeof createDeadLettersService>;

export function createDeadLettersService(deps: DeadLettersDeps) {
  const repo = deps.repos.aggregates;
  return {
    /** Dead letters newest first (by id), `limit` of them below `beforeId`. */
    async list(
      _caller: Caller,
      q: {
        limit: number;
        reason?: string;
        shardPrefix?: string;
        beforeId?: number;
        includeReplayed: boolean;
      },
    ): Promise<DeadLetterView[]> {
      const rows = await repo.listDeadLetters(q);
      return rows.map((letter) => ({ letter, payload: parsePayload(letter.raw) }));
    },

    /** Sends a dead letter's payload through the front door again, as the caller's; it stays if refused. */
    async replay(caller: Caller, id: number): Promise<DeadLetterReplayed> {
      const front = deps.ingest;
      if (!front)
        throw new AppError('unavailable', 'ingest is not configured in this process', {
          retryAfterSeconds: 5,
        });
      const d = await repo.getDeadLetter(id);
      if (!d) throw notFound(`dead letter ${id}`);
      if (d.replayedAt) throw conflict(`dead letter ${id} was replayed at ${d.replayedAt.toISOString()}`);
      const parsed = parsePayload(d.raw);
      if (!parsed) {
        throw new AppError('validation', `dead letter ${id} is not a JSON event; it stays`, {
          issues: [{ path: '(payload)', message: 'not valid UTF-8 JSON' }],
          reason: 'invalid_json',
        });
      }
      // Through the front door like any event: the same validation, rate limit, dedup and durability.
      const result = await ingestItems(front, caller.id, [parsed.value]);
      const [rejected] = result.rejected;
      if (rejected) {
        throw new AppError('validation', `dead letter ${id} is still not a valid event; it stays`, {
          issues: rejected.errors.map((e) => ({
            path: e.path.replace(/^\[0\]\.?/, '') || '(root)',
            message: e.message,
          })),
          reason: rejected.reason,
        });
      }
      await repo.markDeadLetterReplayed(id);
      const now = await repo.getDeadLetter(id);
      return { id, accepted: result.accepted, replayedAt: now?.replayedAt ?? new Date() };
    },
  };
}
