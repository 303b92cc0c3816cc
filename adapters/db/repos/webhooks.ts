/**
 * Webhook subscriptions, deliveries and their attempt log. Secrets leave this module only through
 * `create`/`rotateSecret` (shown once to the caller) and `signingSecrets` (for the delivery activity).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { DomainEvent } from '../../../domain/domain-events';
import { SecretDecryptionError, type ResealResult, type SecretBox } from '../../../platform/secrets';
import type { Queryable } from '../pool';

type Row = Record<string, unknown>;

export interface WebhookSubscription {
  id: string;
  url: string;
  description: string;
  events: string[];
  targets: string[];
  active: boolean;
  disabled_reason: string | null;
  /** When the previous secret stops signing; null when no rotation is in its overlap period. */
  previous_secret_expires_at: string | null;
  created_at: string;
  updated_at: string;
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'dead_lettered';

export interface DeliveryAttempt {
  attempt: number;
  started_at: string;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
  response_body: string | null;
  signatures: number;
}

export interface WebhookDelivery {
  id: string;
  subscription_id: string;
  event_id: string;
  event_type: string;
  status: DeliveryStatus;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  dead_letter_reason: string | null;
  redelivery_of: string | null;
  created_at: string;
  completed_at: string | null;
  attempt_log?: DeliveryAttempt[];
}

const iso = (v: Date | string | null): string | null => (v === null ? null : new Date(v).toISOString());

function toSubscription(r: Record<string, unknown>, now = Date.now()): WebhookSubscription {
  const expires = r.previous_secret_expires_at as Date | null;
  return {
    id: r.id as string,
    url: r.url as string,
    description: r.description as string,
    events: r.events as string[],
    targets: r.targets as string[],
    active: r.active as boolean,
    disabled_reason: (r.disabled_reason as string | null) ?? null,
    previous_secret_expires_at: expires && expires.getTime() > now ? iso(expires) : null,
    created_at: iso(r.created_at as Date)!,
    updated_at: iso(r.updated_at as Date)!,
  };
}

function toDelivery(r: Record<string, unknown>): WebhookDelivery {
  return {
    id: r.id as string,
    subscription_id: r.subscription_id as string,
    event_id: r.event_id as string,
    event_type: r.event_type as string,
    status: r.status as DeliveryStatus,
    attempts: r.attempts as number,
    last_status: (r.last_status as number | null) ?? null,
    last_error: (r.last_error as string | null) ?? null,
    dead_letter_reason: (r.dead_letter_reason as string | null) ?? null,
    redelivery_of: (r.redelivery_of as string | null) ?? null,
    created_at: iso(r.created_at as Date)!,
    completed_at: iso(r.completed_at as Date | null),
  };
}

/** A fresh signing secret: 32 random bytes, prefixed so it is recognisable in a secret scanner. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

/** The first delivery of an event to a subscription has a stable id, so a replayed plan finds it again. */
export function firstDeliveryId(subscriptionId: string, eventId: string): string {
  return `dlv_${createHash('sha256').update(`${subscriptionId}\n${eventId}`).digest('hex').slice(0, 24)}`;
}

const SUB_COLUMNS = `id, url, description, events, targets, active, disabled_reason, previous_secret_expires_at, created_at, updated_at`;
const DELIVERY_COLUMNS = `id, subscription_id, event_id, event_type, status, attempts, last_status, last_error, dead_letter_reason, redelivery_of, created_at, completed_at`;

/** Signing secrets are kept sealed (they must be read back to sign); bound to their subscription. */
const secretContext = (subscriptionId: string) => `webhook:${subscriptionId}`;

export function createWebhooksRepo(db: Queryable, box: SecretBox) {
  return { ...subscriptionQueries(db, box), ...deliveryQueries(db) };
}

/** Subscriptions: what each wants delivered where, and its sealed signing secret. */
function subscriptionQueries(db: Queryable, box: SecretBox) {
  return {
    async create(input: {
      url: string;
      description: string;
      events: string[];
      targets: string[];
      active: boolean;
    }) {
      const id = `wh_${randomBytes(12).toString('hex')}`;
      const secret = newWebhookSecret();
      const r = await db.query<Row>(
        `INSERT INTO webhook_subscriptions (id, url, description, events, targets, active, secret)
         VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING ${SUB_COLUMNS}`,
        [
          id,
          input.url,
          input.description,
          input.events,
          input.targets,
          input.active,
          box.seal(secret, secretContext(id)),
        ],
      );
      return { subscription: toSubscription(r.rows[0]!), secret };
    },

    async get(id: string): Promise<WebhookSubscription | undefined> {
      const r = await db.query<Row>(`SELECT ${SUB_COLUMNS} FROM webhook_subscriptions WHERE id = $1`, [id]);
      return r.rows[0] ? toSubscription(r.rows[0]) : undefined;
    },

    async list(opts: { limit: number; after?: string }): Promise<WebhookSubscription[]> {
      const r = await db.query<Row>(
        `SELECT ${SUB_COLUMNS} FROM webhook_subscriptions WHERE ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2`,
        [opts.after ?? null, opts.limit],
      );
      return r.rows.map((row) => toSubscription(row));
    },

    async update(
      id: string,
      patch: Partial<{
        url: string;
        description: string;
        events: string[];
        targets: string[];
        active: boolean;
      }>,
    ): Promise<WebhookSubscription | undefined> {
      const r = await db.query<Row>(
        `UPDATE webhook_subscriptions SET
           url = COALESCE($2, url), description = COALESCE($3, description), events = COALESCE($4, events),
           targets = COALESCE($5, targets), active = COALESCE($6, active),
           disabled_reason = CASE WHEN $6 IS TRUE THEN NULL ELSE disabled_reason END, updated_at = now()
         WHERE id = $1 RETURNING ${SUB_COLUMNS}`,
        [
          id,
          patch.url ?? null,
          patch.description ?? null,
          patch.events ?? null,
          patch.targets ?? null,
          patch.active ?? null,
        ],
      );
      return r.rows[0] ? toSubscription(r.rows[0]) : undefined;
    },

    async remove(id: string): Promise<boolean> {
      const r = await db.query<Row>(`DELETE FROM webhook_subscriptions WHERE id = $1`, [id]);
      return (r.rowCount ?? 0) > 0;
    },

    /** A new secret; the current one keeps signing for `overlapSeconds` (0 retires it at once). */
    async rotateSecret(id: string, overlapSeconds: number) {
      const secret = newWebhookSecret();
      const r = await db.query<Row>(
        `UPDATE webhook_subscriptions SET previous_secret = secret, secret = $2,
           previous_secret_expires_at = now() + make_interval(secs => $3), updated_at = now()
         WHERE id = $1 RETURNING ${SUB_COLUMNS}`,
        [id, box.seal(secret, secretContext(id)), overlapSeconds],
      );
      return r.rows[0] ? { subscription: toSubscription(r.rows[0]), secret } : undefined;
    },

    /** What an attempt needs at the moment it is made: where, whether, and every secret that signs now. */
    async deliveryTarget(
      subscriptionId: string,
    ): Promise<{ url: string; active: boolean; secrets: string[] } | undefined> {
      const r = await db.query<{ url: string; active: boolean; secret: string; previous: string | null }>(
        `SELECT url, active, secret,
                CASE WHEN previous_secret_expires_at > now() THEN previous_secret END AS previous
           FROM webhook_subscriptions WHERE id = $1`,
        [subscriptionId],
      );
      const row = r.rows[0];
      if (!row) return undefined;
      return {
        url: row.url,
        active: row.active,
        secrets: (row.previous ? [row.secret, row.previous] : [row.secret]).map((v) =>
          box.open(v, secretContext(subscriptionId)),
        ),
      };
    },

    /** Seals signing secrets not yet sealed under the current key (legacy rows, retired keys). */
    async resealSecrets(): Promise<ResealResult> {
      const r = await db.query<{ id: string; secret: string; previous_secret: string | null }>(
        `SELECT id, secret, previous_secret FROM webhook_subscriptions`,
      );
      const result: ResealResult = { resealed: 0, unreadable: [] };
      for (const row of r.rows) {
        const stale = (v: string | null) => v !== null && !box.isCurrent(v);
        if (!stale(row.secret) && !stale(row.previous_secret)) continue;
        const reseal = (v: string | null) =>
          v === null || box.isCurrent(v)
            ? v
            : box.seal(box.open(v, secretContext(row.id)), secretContext(row.id));
        let next: [string | null, string | null];
        try {
          next = [reseal(row.secret), reseal(row.previous_secret)];
        } catch (err) {
          if (!(err instanceof SecretDecryptionError)) throw err;
          result.unreadable.push(row.id);
          continue;
        }
        const u = await db.query(
          `UPDATE webhook_subscriptions SET secret = $2, previous_secret = $3
            WHERE id = $1 AND secret = $4 AND previous_secret IS NOT DISTINCT FROM $5`,
          [row.id, ...next, row.secret, row.previous_secret],
        );
        result.resealed += u.rowCount ?? 0;
      }
      return result;
    },

    async disable(subscriptionId: string, reason: string): Promise<void> {
      await db.query<Row>(
        `UPDATE webhook_subscriptions SET active = false, disabled_reason = $2, updated_at = now() WHERE id = $1`,
        [subscriptionId, reason],
      );
    },
  };
}

/** Deliveries of domain events to subscriptions, each with its attempts. */
function deliveryQueries(db: Queryable) {
  return {
    /** Creates (once) a delivery for every active subscription the event matches; returns their ids. */
    async planDeliveries(
      event: Pick<DomainEvent, 'id' | 'type' | 'target'>,
    ): Promise<{ id: string; subscription_id: string }[]> {
      const subs = await db.query<{ id: string }>(
        `SELECT id FROM webhook_subscriptions
          WHERE active AND ($1 = ANY(events) OR '*' = ANY(events))
            AND (cardinality(targets) = 0 OR $2 = ANY(targets))
          ORDER BY id`,
        [event.type, event.target],
      );
      if (subs.rows.length === 0) return [];
      const planned = subs.rows.map((s) => ({ id: firstDeliveryId(s.id, event.id), subscription_id: s.id }));
      await db.query<Row>(
        `INSERT INTO webhook_deliveries (id, subscription_id, event_id, event_type)
         SELECT d.id, d.sub, $3, $4 FROM unnest($1::text[], $2::text[]) AS d(id, sub)
         ON CONFLICT DO NOTHING`,
        [planned.map((p) => p.id), planned.map((p) => p.subscription_id), event.id, event.type],
      );
      return planned;
    },

    async getDelivery(id: string, withAttempts = false): Promise<WebhookDelivery | undefined> {
      const r = await db.query<Row>(`SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1`, [id]);
      if (!r.rows[0]) return undefined;
      const delivery = toDelivery(r.rows[0]);
      if (withAttempts) delivery.attempt_log = await this.attempts(id);
      return delivery;
    },

    async attempts(deliveryId: string): Promise<DeliveryAttempt[]> {
      const r = await db.query<Row>(
        `SELECT attempt, started_at, status_code, latency_ms, error, response_body, signatures
           FROM webhook_delivery_attempts WHERE delivery_id = $1 ORDER BY attempt`,
        [deliveryId],
      );
      return r.rows.map((a) => ({
        ...(a as unknown as DeliveryAttempt),
        started_at: iso(a.started_at as Date)!,
      }));
    },

    /** Deliveries of a subscription, newest first, each with its attempt log. */
    async listDeliveries(
      subscriptionId: string,
      opts: { limit: number; status?: DeliveryStatus; before?: { created_at: string; id: string } },
    ): Promise<WebhookDelivery[]> {
      const r = await db.query<Row>(
        `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries
          WHERE subscription_id = $1 AND ($2::text IS NULL OR status = $2)
            AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
          ORDER BY created_at DESC, id DESC LIMIT $5`,
        [
          subscriptionId,
          opts.status ?? null,
          opts.before?.created_at ?? null,
          opts.before?.id ?? null,
          opts.limit,
        ],
      );
      const deliveries = r.rows.map(toDelivery);
      if (deliveries.length === 0) return deliveries;
      const attempts = await db.query<Row>(
        `SELECT delivery_id, attempt, started_at, status_code, latency_ms, error, response_body, signatures
           FROM webhook_delivery_attempts WHERE delivery_id = ANY($1) ORDER BY delivery_id, attempt`,
        [deliveries.map((d) => d.id)],
      );
      for (const d of deliveries) {
        d.attempt_log = attempts.rows
          .filter((a) => a.delivery_id === d.id)
          .map(({ delivery_id: _ignored, ...a }) => ({
            ...(a as unknown as DeliveryAttempt),
            started_at: iso(a.started_at as Date)!,
          }));
      }
      return deliveries;
    },

    /**
     * Numbers the next attempt of a delivery and logs it as interrupted until `recordAttempt` writes
     * its answer: an attempt cut short by a dying worker stays visible.
     */
    async beginAttempt(deliveryId: string, startedAt: string, signatures: number): Promise<number> {
      const r = await db.query<{ attempt: number }>(
        `WITH n AS (UPDATE webhook_deliveries SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts)
         INSERT INTO webhook_delivery_attempts (delivery_id, attempt, started_at, latency_ms, error, signatures)
         SELECT $1, attempts, $2, 0, 'no answer recorded: the attempt was interrupted', $3 FROM n
         RETURNING attempt`,
        [deliveryId, startedAt, signatures],
      );
      if (!r.rows[0]) throw new Error(`delivery ${deliveryId} does not exist`);
      return r.rows[0].attempt;
    },

    async recordAttempt(deliveryId: string, a: DeliveryAttempt): Promise<void> {
      await db.query<Row>(
        `WITH logged AS (
           INSERT INTO webhook_delivery_attempts (delivery_id, attempt, started_at, status_code, latency_ms, error, response_body, signatures)
           VALUES ($1,$2,$3,$4,$5,$6,$7,$8)
           ON CONFLICT (delivery_id, attempt) DO UPDATE SET status_code = EXCLUDED.status_code,
             latency_ms = EXCLUDED.latency_ms, error = EXCLUDED.error, response_body = EXCLUDED.response_body)
         UPDATE webhook_deliveries SET attempts = GREATEST(attempts, $2), last_status = $4, last_error = $6 WHERE id = $1`,
        [
          deliveryId,
          a.attempt,
          a.started_at,
          a.status_code,
          Math.round(a.latency_ms),
          a.error,
          a.response_body,
          a.signatures,
        ],
      );
    },

    async markSucceeded(deliveryId: string): Promise<void> {
      await db.query<Row>(
        `UPDATE webhook_deliveries SET status = 'succeeded', completed_at = now() WHERE id = $1`,
        [deliveryId],
      );
    },

    /** The dead letter: terminal, kept with its reason and visible through the API; redelivery starts anew. */
    async markDeadLettered(deliveryId: string, reason: string, error: string | null): Promise<void> {
      await db.query<Row>(
        `UPDATE webhook_deliveries SET status = 'dead_lettered', dead_letter_reason = $2,
           last_error = COALESCE($3, last_error), completed_at = now()
         WHERE id = $1 AND status = 'pending'`,
        [deliveryId, reason, error],
      );
    },

    /** The stored domain event a delivery carries, exactly as published. */
    async event(id: string): Promise<DomainEvent | undefined> {
      const r = await db.query<Row>(
        `SELECT id, type, version, occurred_at, target, segment, summary, data FROM domain_events WHERE id = $1`,
        [id],
      );
      const row = r.rows[0];
      return row
        ? ({ ...row, occurred_at: new Date(row.occurred_at as Date).toISOString() } as DomainEvent)
        : undefined;
    },

    async createRedelivery(original: WebhookDelivery): Promise<WebhookDelivery> {
      const id = `dlv_${randomBytes(12).toString('hex')}`;
      const r = await db.query<Row>(
        `INSERT INTO webhook_deliveries (id, subscription_id, event_id, event_type, redelivery_of)
         VALUES ($1,$2,$3,$4,$5) RETURNING ${DELIVERY_COLUMNS}`,
        [id, original.subscription_id, original.event_id, original.event_type, original.id],
      );
      return toDelivery(r.rows[0]!);
    },
  };
}
export type WebhooksRepo = ReturnType<typeof createWebhooksRepo>;
