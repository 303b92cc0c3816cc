/** Contract of the versioned price table: list current prices, a model's history, set a new version. */
import { createRoute, z } from '@hono/zod-openapi';
import { jsonBody, jsonResponse, problemResponse } from '../../lib/schemas';

export const PriceSchema = z
  .object({
    model: z.string(),
    version: z.number().int(),
    provider: z.string().nullable(),
    input_usd_per_mtok: z.number(),
    output_usd_per_mtok: z.number(),
    effective_from: z.string(),
    created_at: z.string(),
  })
  .openapi('ModelPrice');

export const ModelParam = z.object({
  model: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[\w.:@+-]+$/, 'letters, digits and . _ : @ + -')
    .openapi({ param: { name: 'model', in: 'path' }, example: 'gpt-4o' }),
});

export const SetPriceBody = z
  .object({
    provider: z.string().min(1).max(100).nullable().optional(),
    input_usd_per_mtok: z.number().min(0).max(100_000),
    output_usd_per_mtok: z.number().min(0).max(100_000),
    /** Events stamped from this time on are priced at this version; default now. */
    effective_from: z.iso.datetime({ offset: true }).optional(),
  })
  .strict()
  .openapi('SetModelPrice');

export const listPrices = createRoute({
  method: 'get',
  path: '/v1/prices',
  tags: ['prices'],
  summary: 'Current price of every model (USD per million input/output tokens)',
  responses: { 200: jsonResponse(z.object({ items: z.array(PriceSchema) }), 'Current versions') },
});

export const priceHistory = createRoute({
  method: 'get',
  path: '/v1/prices/{model}',
  tags: ['prices'],
  summary: "Every version of a model's price, newest first",
  request: { params: ModelParam },
  responses: {
    200: jsonResponse(z.object({ items: z.array(PriceSchema) }), 'Versions'),
    404: problemResponse('No price for this model'),
  },
});

export const setPrice = createRoute({
  method: 'put',
  path: '/v1/prices/{model}',
  tags: ['prices'],
  summary:
    "Set a model's price: appends a new version (llm.request events without cost_usd are priced by it)",
  request: { params: ModelParam, ...jsonBody(SetPriceBody) },
  responses: {
    200: jsonResponse(PriceSchema, 'The new version'),
    422: problemResponse('Invalid body; `errors` names each field'),
  },
});
