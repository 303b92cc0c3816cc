/**
 * Contracts of webhook subscriptions and their deliveries, and the payloads we send (published in the
 * OpenAPI document's `webhooks` section, one entry per domain event type).
 */
import { createRoute, z } from '@hono/zod-openapi';
import { DOMAIN_EVENT_TYPES, DOMAIN_EVENT_VERSION } from '../../../domain/domain-events';
import { TargetName } from '../../../domain/model';
import { crudResponses, jsonBody, jsonResponse, problemResponse } from '../../lib/schemas';

const EventFilter = z.enum([...DOMAIN_EVENT_TYPES, '*']);

export const SubscriptionId = z
  .string()
  .regex(/^wh_[0-9a-f]{24}$/, 'a subscription id (wh_...)')
  .openapi({ param: { name: 'id', in: 'path' }, example: 'wh_4f1c2a9e0b7d3c5a8e6f1d2b' });
export const DeliveryId = z
  .string()
  .regex(/^dlv_[0-9a-f]{24}$/, 'a delivery id (dlv_...)')
  .openapi({ param: { name: 'delivery', in: 'path' }, example: 'dlv_0a1b2c3d4e5f60718293a4b5' });

const url = z.string().max(2000).openapi({ example: 'https://hooks.example.com/llmopt' });

export const CreateSubscriptionBody = z
  .object({
    url,
    description: z.string().max(500).default(''),
    /** Event types delivered; "*" for all of them. */
    events: z
      .array(EventFilter)
      .min(1)
      .max(DOMAIN_EVENT_TYPES.length + 1)
      .refine((e) => new Set(e).size === e.length, { message: 'event types must be unique' }),
    /** Only events of these targets; all targets when empty or absent. */
    targets: z.array(TargetName).max(500).default([]),
    active: z.boolean().default(true),
  })
  .strict()
  .openapi('CreateWebhookSubscription', {
    example: {
      url: 'https://hooks.example.com/llmopt',
      events: ['rollout.rolled_back', 'anomaly.detected'],
      targets: ['support-bot'],
    } as never,
  });

export const UpdateSubscriptionBody = z
  .object({
    url: url.optional(),
    description: z.string().max(500).optional(),
    events: z
      .array(EventFilter)
      .min(1)
      .max(DOMAIN_EVENT_TYPES.length + 1)
      .optional(),
    targets: z.array(TargetName).max(500).optional(),
    active: z.boolean().optional(),
  })
  .strict()
  .openapi('UpdateWebhookSubscription');

export const SubscriptionSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    description: z.string(),
    events: z.array(z.string()),
    targets: z.array(z.string()),
    active: z.boolean(),
    disabled_reason: z.string().nullable(),
    previous_secret_expires_at: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('WebhookSubscription');

export const SubscriptionWithSecret = SubscriptionSchema.extend({
  /** Shown once: store it now; it cannot be read again (rotate to get a new one). */
  secret: z.string().openapi({ example: 'whsec_...' }),
}).openapi('WebhookSubscriptionWithSecret');

const AttemptSchema = z.object({
  attempt: z.number().int(),
  started_at: z.string(),
  status_code: z.number().int().nullable(),
  latency_ms: z.number().int(),
  error: z.string().nullable(),
  response_body: z.string().nullable().describe('The start of the response body, truncated'),
  signatures: z
    .number()
    .int()
    .describe('How many v1 signatures the attempt carried (2 during a rotation overlap)'),
});

export const DeliverySchema = z
  .object({
    id: z.string(),
    subscription_id: z.string(),
    event_id: z.string(),
    event_type: z.string(),
    status: z.enum(['pending', 'succeeded', 'dead_lettered']),
    attempts: z.number().int(),
    last_status: z.number().int().nullable(),
    last_error: z.string().nullable(),
    dead_letter_reason: z.string().nullable(),
    redelivery_of: z.string().nullable(),
    created_at: z.string(),
    completed_at: z.string().nullable(),
    attempt_log: z.array(AttemptSchema).optional(),
  })
  .openapi('WebhookDelivery');

const IdParam = z.object({ id: SubscriptionId });
const DeliveryParams = z.object({ id: SubscriptionId, delivery: DeliveryId });
const tags = ['webhooks'];
const subscriptionResponses = crudResponses(SubscriptionSchema, 'No such subscription');
const deliveryResponses = crudResponses(DeliverySchema, 'No such delivery');

export const createSubscription = createRoute({
  method: 'post',
  path: '/v1/webhooks',
  tags,
  summary: 'Subscribe a URL to domain events; the signing secret is in this answer only',
  request: jsonBody(CreateSubscriptionBody),
  responses: {
    201: jsonResponse(SubscriptionWithSecret, 'The subscription, with its secret (shown once)'),
    422: problemResponse('Invalid body, or a URL that is malformed or resolves to a non-public address'),
  },
});

export const listSubscriptions = createRoute({
  method: 'get',
  path: '/v1/webhooks',
  tags,
  summary: 'List webhook subscriptions',
  request: {
    query: z.object({
      limit: z.coerce.number().int().min(1).max(200).default(50),
      cursor: z.string().max(500).optional(),
    }),
  },
  responses: subscriptionResponses.page('A page of subscriptions'),
});

export const getSubscription = createRoute({
  method: 'get',
  path: '/v1/webhooks/{id}',
  tags,
  summary: 'Read a subscription (never its secret)',
  request: { params: IdParam },
  responses: subscriptionResponses.read('The subscription'),
});

export const updateSubscription = createRoute({
  method: 'patch',
  path: '/v1/webhooks/{id}',
  tags,
  summary: 'Change URL, filters or the active flag (reactivating clears disabled_reason)',
  request: { params: IdParam, ...jsonBody(UpdateSubscriptionBody) },
  responses: subscriptionResponses.update('The updated subscription', 'Invalid body or URL'),
});

export const deleteSubscription = createRoute({
  method: 'delete',
  path: '/v1/webhooks/{id}',
  tags,
  summary: 'Delete a subscription and its delivery log',
  request: { params: IdParam },
  responses: subscriptionResponses.remove(),
});

export const rotateSecret = createRoute({
  method: 'post',
  path: '/v1/webhooks/{id}/rotate-secret',
  tags,
  summary: 'Issue a new secret; the old one keeps signing (as a second v1) during the overlap',
  request: {
    params: IdParam,
    body: {
      content: {
        'application/json': {
          schema: z
            .object({
              overlap_seconds: z
                .number()
                .int()
                .min(0)
                .max(30 * 86_400)
                .optional(),
            })
            .strict()
            .openapi('RotateWebhookSecret'),
        },
      },
      required: false,
    },
  },
  responses: {
    200: jsonResponse(SubscriptionWithSecret, 'The subscription with its new secret (shown once)'),
    404: problemResponse('No such subscription'),
    422: problemResponse('Invalid body'),
  },
});

export const listDeliveries = createRoute({
  method: 'get',
  path: '/v1/webhooks/{id}/deliveries',
  tags,
  summary:
    'Deliveries of a subscription, newest first, each with every attempt; dead letters with status=dead_lettered',
  request: {
    params: IdParam,
    query: z.object({
      status: z.enum(['pending', 'succeeded', 'dead_lettered']).optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50),
      cursor: z.string().max(500).optional(),
    }),
  },
  responses: {
    ...deliveryResponses.page('A page of deliveries'),
    ...subscriptionResponses.notFound,
  },
});

export const getDelivery = createRoute({
  method: 'get',
  path: '/v1/webhooks/{id}/deliveries/{delivery}',
  tags,
  summary: 'One delivery with its attempt log',
  request: { params: DeliveryParams },
  responses: deliveryResponses.read('The delivery'),
});

export const redeliver = createRoute({
  method: 'post',
  path: '/v1/webhooks/{id}/deliveries/{delivery}/redeliver',
  tags,
  summary: 'Send a delivery again (same event id, a new delivery id)',
  request: { params: DeliveryParams },
  responses: {
    202: jsonResponse(DeliverySchema, 'The new delivery; follow it in the deliveries list'),
    404: problemResponse('No such delivery'),
    409: problemResponse('The subscription is inactive'),
  },
});

/** The body of every webhook: the domain event, versioned. */
export function webhookPayloadSchema(type: (typeof DOMAIN_EVENT_TYPES)[number]) {
  return z
    .object({
      id: z.string().describe('Event id: the same across retries and redeliveries; deduplicate on it'),
      type: z.literal(type),
      version: z.literal(DOMAIN_EVENT_VERSION),
      occurred_at: z.string().datetime(),
      target: z.string(),
      segment: z.string().nullable(),
      summary: z.string(),
      data: z.record(z.string(), z.unknown()),
    })
    .openapi(`WebhookEvent_${type.replace('.', '_')}`);
}

export const WebhookHeaders = z.object({
  'x-llmopt-signature': z.string().openapi({
    description:
      't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">[,v1=<hex with the previous secret during a rotation>]',
    example: 't=1795000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd',
  }),
  'x-llmopt-event-id': z.string(),
  'x-llmopt-event-type': z.string(),
  'x-llmopt-delivery-id': z.string(),
  'x-llmopt-delivery-attempt': z.string(),
});
