/** REST of the price table over app/prices.ts. */
import type { RouteHandler } from '@hono/zod-openapi';
import type { PricesService } from '../../../app/prices';
import { callerOf } from '../../lib/caller';
import type { AppBindings } from '../../lib/types';
import type { listPrices, priceHistory, setPrice } from './prices.routes';

export function priceHandlers(prices: PricesService) {
  const list: RouteHandler<typeof listPrices, AppBindings> = async (c) =>
    c.json({ items: await prices.list() }, 200);

  const history: RouteHandler<typeof priceHistory, AppBindings> = async (c) =>
    c.json({ items: await prices.history(c.req.valid('param').model) }, 200);

  const set: RouteHandler<typeof setPrice, AppBindings> = async (c) => {
    const { model } = c.req.valid('param');
    const v = await prices.set(callerOf(c), model, c.req.valid('json'));
    c.get('logger').info({ model, version: v.version }, 'price set');
    return c.json(v, 200);
  };

  return { list, history, set };
}
