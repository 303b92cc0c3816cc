import type { RouteHandler } from '@hono/zod-openapi';
import { notFound } from '../../../domain/errors';
import type { ApiDeps, AppBindings } from '../../lib/types';
import type { listPrices, priceHistory, setPrice } from './prices.routes';

export function priceHandlers(deps: ApiDeps) {
  const { prices } = deps.repos;

  const list: RouteHandler<typeof listPrices, AppBindings> = async (c) =>
    c.json({ items: await prices.current() }, 200);

  const history: RouteHandler<typeof priceHistory, AppBindings> = async (c) => {
    const { model } = c.req.valid('param');
    const items = await prices.history(model);
    if (items.length === 0) throw notFound(`price of model "${model}"`);
    return c.json({ items }, 200);
  };

  const set: RouteHandler<typeof setPrice, AppBindings> = async (c) => {
    const { model } = c.req.valid('param');
    const body = c.req.valid('json');
    const v = await prices.set(
      {
        model,
        provider: body.provider ?? null,
        input_usd_per_mtok: body.input_usd_per_mtok,
        output_usd_per_mtok: body.output_usd_per_mtok,
      },
      body.effective_from,
    );
    // In embedded mode the pipeline prices the next events by this version.
    await deps.dataPlane?.onPricesChanged?.();
    c.get('logger').info({ model, version: v.version }, 'price set');
    return c.json(v, 200);
  };

  return { list, history, set };
}
