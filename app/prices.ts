/**
 * The versioned price table, once for every door: the current price of every model, a model's history,
 * and a new version set. Events without a cost are priced at the version in force at their time, so a
 * change appends a version (effective from now, or from the time given) and never rewrites one.
 *
 * - A model without any price is `not_found` for its history.
 * - After a change, the price book of a data plane in this process is refreshed (`onChanged`), so the
 *   next events it prices already use the new version.
 * - Who set a price is recorded by the audit trail of the door (api/middleware/audit.ts), with the
 *   caller as its actor.
 */
import { notFound } from '../domain/errors';
import type { PriceVersion } from '../domain/pricing';
import type { PricesRepo } from '../adapters/db/repos/prices';
import type { Caller } from './caller';

export interface PricesDeps {
  repos: { prices: PricesRepo };
  /** The price book of a pipeline running in this process (the API's embedded mode), refreshed after a change. */
  onChanged?: (() => void | Promise<void>) | undefined;
}

export interface NewPrice {
  provider?: string | null | undefined;
  input_usd_per_mtok: number;
  output_usd_per_mtok: number;
  /** Events stamped from this time on are priced at this version; default now. */
  effective_from?: string | undefined;
}

export type PricesService = ReturnType<typeof createPricesService>;

export function createPricesService(deps: PricesDeps) {
  const { prices } = deps.repos;
  return {
    /** The current version of every model's price. */
    list: (): Promise<PriceVersion[]> => prices.current(),

    /** Every version of a model's price, newest first. */
    async history(model: string): Promise<PriceVersion[]> {
      const items = await prices.history(model);
      if (items.length === 0) throw notFound(`price of model "${model}"`);
      return items;
    },

    async set(_caller: Caller, model: string, input: NewPrice): Promise<PriceVersion> {
      const v = await prices.set(
        {
          model,
          provider: input.provider ?? null,
          input_usd_per_mtok: input.input_usd_per_mtok,
          output_usd_per_mtok: input.output_usd_per_mtok,
        },
        input.effective_from,
      );
      await deps.onChanged?.();
      return v;
    },
  };
}
