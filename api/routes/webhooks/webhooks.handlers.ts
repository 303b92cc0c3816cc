/** REST of webhook subscriptions and deliveries: the wire format over app/webhooks.ts. */
import type { RouteHandler } from '@hono/zod-openapi';
import { AppError } from '../../../domain/errors';
import { createWebhooksService } from '../../../app/webhooks';
import { callerOf } from '../../lib/caller';
import { decodeCursor, pageOf } from '../../lib/pagination';
import type { ApiDeps, AppBindings } from '../../lib/types';
import type * as routes from './webhooks.routes';

const isDeliveryCursor = (v: unknown): v is { created_at: string; id: string } =>
  typeof v === 'object' && v !== null && typeof (v as { id?: unknown }).id === 'string';

export function webhookHandlers(deps: ApiDeps) {
  // Over the app's own settings (an app may be built with other allowed destinations than its container).
  const service = createWebhooksService(deps);

  const create: RouteHandler<typeof routes.createSubscription, AppBindings> = async (c) => {
    const created = await service.create(callerOf(c), c.req.valid('json'));
    return c.json(created, 201, { location: `/v1/webhooks/${created.id}` });
  };

  const list: RouteHandler<typeof routes.listSubscriptions, AppBindings> = async (c) => {
    const { limit, cursor } = c.req.valid('query');
    const after = decodeCursor(cursor, (v): v is string => typeof v === 'string');
    const items = await service.list(callerOf(c), { limit: limit + 1, ...(after ? { after } : {}) });
    return c.json(
      pageOf(items, limit, (l) => l.id),
      200,
    );
  };

  const get: RouteHandler<typeof routes.getSubscription, AppBindings> = async (c) =>
    c.json(await service.get(callerOf(c), c.req.valid('param').id), 200);

  const update: RouteHandler<typeof routes.updateSubscription, AppBindings> = async (c) =>
    c.json(await service.update(callerOf(c), c.req.valid('param').id, c.req.valid('json')), 200);

  const remove: RouteHandler<typeof routes.deleteSubscription, AppBindings> = async (c) => {
    await service.remove(callerOf(c), c.req.valid('param').id);
    return c.body(null, 204);
  };

  const rotate: RouteHandler<typeof routes.rotateSecret, AppBindings> = async (c) => {
    // The body is optional: none, or {"overlap_seconds": n}.
    const raw = (await c.req.text()).trim();
    let parsed: unknown = {};
    try {
      if (raw) parsed = JSON.parse(raw);
    } catch {
      throw new AppError('bad_request', 'request body is not valid JSON');
    }
    const overlapSeconds = (parsed as { overlap_seconds?: unknown } | null)?.overlap_seconds;
    const rotated = await service.rotateSecret(callerOf(c), c.req.valid('param').id, { overlapSeconds });
    return c.json(rotated, 200);
  };

  const deliveries: RouteHandler<typeof routes.listDeliveries, AppBindings> = async (c) => {
    const { id } = c.req.valid('param');
    const { limit, cursor, status } = c.req.valid('query');
    const before = decodeCursor(cursor, isDeliveryCursor);
    const items = await service.deliveries(callerOf(c), id, {
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
    return c.json(await service.delivery(callerOf(c), id, deliveryId), 200);
  };

  const redeliver: RouteHandler<typeof routes.redeliver, AppBindings> = async (c) => {
    const { id, delivery: deliveryId } = c.req.valid('param');
    const fresh = await service.redeliver(callerOf(c), id, deliveryId);
    return c.json(fresh, 202, { location: `/v1/webhooks/${id}/deliveries/${fresh.id}` });
  };

  return { create, list, get, update, remove, rotate, deliveries, delivery, redeliver };
}
