/**
 * The price table: model → USD per million input and output tokens, versioned. Cost is priced at the
 * version effective at the event's own time, so replaying a stream after a price change gives the same
 * cost as the first pass did.
 */
import { z } from 'zod';

export const ModelPrice = z
  .object({
    model: z.string().min(1).max(200),
    provider: z.string().min(1).max(100).nullable().default(null),
    input_usd_per_mtok: z.number().min(0).max(100_000),
    output_usd_per_mtok: z.number().min(0).max(100_000),
  })
  .strict();
export type ModelPriceInput = z.input<typeof ModelPrice>;

export interface PriceVersion extends z.infer<typeof ModelPrice> {
  version: number;
  /** ISO time from which this version prices events. */
  effective_from: string;
  created_at: string;
}

/**
 * Built-in list prices (USD per million tokens) used when the table has no row for a model yet.
 * Operators override them through PUT /v1/prices/{model}.
 */
export const DEFAULT_PRICES: readonly z.infer<typeof ModelPrice>[] = [
  { model: 'gpt-4o', provider: 'openai', input_usd_per_mtok: 2.5, output_usd_per_mtok: 10 },
  { model: 'gpt-4o-mini', provider: 'openai', input_usd_per_mtok: 0.15, output_usd_per_mtok: 0.6 },
  { model: 'claude-3-5-sonnet', provider: 'anthropic', input_usd_per_mtok: 3, output_usd_per_mtok: 15 },
  { model: 'claude-3-5-haiku', provider: 'anthropic', input_usd_per_mtok: 0.8, output_usd_per_mtok: 4 },
];

/** Lookup of the version of a model's price in force at a time. */
export class PriceBook {
  private readonly byModel = new Map<string, { from: number; input: number; output: number }[]>();

  constructor(
    versions: readonly Pick<
      PriceVersion,
      'model' | 'input_usd_per_mtok' | 'output_usd_per_mtok' | 'effective_from'
    >[],
  ) {
    for (const v of versions) {
      const list = this.byModel.get(v.model) ?? [];
      list.push({
        from: Date.parse(v.effective_from),
        input: v.input_usd_per_mtok,
        output: v.output_usd_per_mtok,
      });
      this.byModel.set(v.model, list);
    }
    for (const list of this.byModel.values()) list.sort((a, b) => a.from - b.from);
  }

  static defaults(): PriceBook {
    return new PriceBook(DEFAULT_PRICES.map((p) => ({ ...p, effective_from: new Date(0).toISOString() })));
  }

  /** USD cost of a call, or undefined when the model has no price at that time. */
  cost(model: string, inputTokens: number, outputTokens: number, at: number): number | undefined {
    const list = this.byModel.get(model);
    if (!list) return undefined;
    let price: { input: number; output: number } | undefined;
    for (const v of list) if (v.from <= at) price = v;
    // A call before the first version is priced at the first: the table had no better answer then.
    price ??= list[0]!;
    return (inputTokens * price.input + outputTokens * price.output) / 1e6;
  }
}
