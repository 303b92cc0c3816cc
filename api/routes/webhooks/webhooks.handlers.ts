import type { RouteHandler } from '@hono/zod-openapi';
import { AppError, conflict, notFound } from '../../../domain/errors';
import { deliveryPolicy } from '../../../app/integration-settings';
import { checkDestination, destinationPolicy, DestinationRefused } from '../../../platform/outbound';
import {
  NOTIFY_WORKFLOW_TYPES,
  redeliverWorkflowId,
  type RedeliverInput,
} from '../../../workflows/notify-types';
import { decodeCursor, pageOf } from '../../lib/pagination';
import type { ApiDeps, AppBindings } from '../../lib/types';
import type * as routes from './webhooks.routes';

export function webhookHandlers(deps: ApiDeps) {
  const repo = deps.repos.webhooks;
  const destinations = destinationPolicy(deps.env);

  /** Registration-time check of a URL: syntax and where it resolves now (delivery checks again). */
  const checkUrl = async (url: string): Promise<void> => {
    try {
      await checkDestination(url, destinations);
    } catch (err) {
      if (err instanceof DestinationRefused) {
        throw new AppError('validation', `url ${err.message.replace(/^URL /, '')}`, {
          issues: [{ path: 'url', message: err.message }],
        });
      }
      throw err;
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

  const create: RouteHandler<typeof routes.createSubscription, AppBindings> = async (c) => {
    const body = c.req.valid('json');
    await checkUrl(body.url);
    const { subscription, secret } = await repo.create(body);
    c.get('logger').info(
      { subscription: subscription.id, events: subscription.events },
      'webhook subscription created',
    );
    return c.json({ ...subscription, secret }, 201, { location: `/v1/webhooks/${subscription.id}` });
  };

  const list: RouteHandler<typeof routes.listSubscriptions, AppBindings> = async (c) => {
    const { limit, cursor } = c.req.valid('query');
    const after = decodeCursor(cursor, (v): v is string => typeof v === 'string');
    const items = await repo.list({ limit: limit + 1, ...(after ? { after } : {}) });
    return c.json(
      pageOf(items, limit, (l) => l.id),
      200,
    );
  };

  const get: RouteHandler<typeof routes.getSubscription, AppBindings> = async (c) => {
    return c.json(await requireSubscription(c.req.valid('param').id), 200);
  };

  const update: RouteHandler<typeof routes.updateSubscription, AppBindings> = async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    await requireSubscription(id);
    if (body.url !== undefined) await checkUrl(body.url);
    const updated = await repo.update(id, body);
    if (!updated) throw notFound(`webhook subscription "${id}"`);
    return c.json(updated, 200);
  };

  const remove: RouteHandler<typeof routes.deleteSubscription, AppBindings> = async (c) => {
    const { id } = c.req.valid('param');
    if (!(await repo.remove(id))) throw notFound(`webhook subscription "${id}"`);
    return c.body(null, 204);
  };

  const rotate: RouteHandler<typeof routes.rotateSecret, AppBindings> = async (c) => {
    const { id } = c.req.valid('param');
    const raw = (await c.req.text()).trim();
    let overlap = deps.env.WEBHOOK_ROTATION_OVERLAP_S;
    if (raw) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        throw new AppError('bad_request', 'request body is not valid JSON');
      }
      const o = (parsed as { overlap_seconds?: unknown })?.overlap_seconds;
      if (o !== undefined) {
        if (typeof o !== 'number' || !Number.isInteger(o) || o < 0 || o > 30 * 86_400) {
          throw new AppError('validation', 'overlap_seconds must be an integer from 0 to 2592000', {
            issues: [{ path: 'overlap_seconds', message: 'an integer from 0 to 2592000' }],
          });
        }
        overlap = o;
      }
    }
    const rotated = await repo.rotateSecret(id, overlap);
    if (!rotated) throw notFound(`webhook subscription "${id}"`);
    c.get('logger').info({ subscription: id, overlap }, 'webhook secret rotated');
    return c.json({ ...rotated.subscription, secret: rotated.secret }, 200);
  };

  const deliveries: RouteHandler<typeof routes.listDeliveries, AppBindings> = async (c) => {
    const { id } = c.req.valid('param');
    const { limit, cursor, status } = c.req.valid('query');
    await requireSubscription(id);
    const before = decodeCursor(
      cursor,
      (v): v is { created_at: string; id: string } =>
        typeof v === 'object' && v !== null && typeof (v as { id?: unknown }).id === 'string',
    );
    const items = await repo.listDeliveries(id, {
      limit: limit + 1,
      ...(status ? { status } : {}),
      ...(before ? { before } : {}),
    });
    return c.json(
      pageOf(items, limit, (l) => ({ created_at: l.created_at, id: l.id })),
      200,
    );
  };

  const delivery: RouteHandler<typeof routes.getDelivery, AppBindings> = async (c) => {
    const { id, delivery: deliveryId } = c.req.valid('param');
    return c.json(await requireDelivery(id, deliveryId), 200);
  };

  const redeliver: RouteHandler<typeof routes.redeliver, AppBindings> = async (c) => {
    const { id, delivery: deliveryId } = c.req.valid('param');
    const original = await requireDelivery(id, deliveryId);
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
    c.get('logger').info(
      { subscription: id, delivery: fresh.id, of: original.id },
      'webhook redelivery started',
    );
    return c.json(fresh, 202, { location: `/v1/webhooks/${id}/deliveries/${fresh.id}` });
  };

  return { create, list, get, update, remove, rotate, deliveries, delivery, redeliver };
}
