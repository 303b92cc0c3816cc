/** Contracts of the gateway's providers: admins configure where each provider lives; keys are write-only. */
import { createRoute, z } from '@hono/zod-openapi';
import { PROVIDER_APIS } from '../../../adapters/db/repos/providers';
import { ProviderName } from '../../../app/providers';
import { crudResponses, jsonBody, jsonResponse } from '../../lib/schemas';

const NameParam = z.object({
  name: ProviderName.openapi({ param: { name: 'name', in: 'path' }, example: 'openai' }),
});

export const ProviderSchema = z
  .object({
    name: z.string(),
    api: z.enum(PROVIDER_APIS),
    base_url: z.string(),
    api_key_set: z.boolean().describe('Whether a key is stored; the key itself is never returned'),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Provider');

export const PutProviderBody = z
  .object({
    api: z.enum(PROVIDER_APIS).describe('The wire format the provider speaks'),
    base_url: z
      .string()
      .min(1)
      .max(2000)
      .describe('Where its API lives, e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1'),
    api_key: z
      .string()
      .min(1)
      .max(4000)
      .nullable()
      .optional()
      .describe(
        'Sealed at rest, never returned. null clears it; absent keeps the stored key unless base_url changes',
      ),
  })
  .strict()
  .openapi('PutProvider', {
    example: { api: 'openai', base_url: 'https://api.openai.com/v1', api_key: 'sk-...' } as never,
  });

const tags = ['providers'];
const responses = crudResponses(ProviderSchema, 'No such provider');

export const listProviders = createRoute({
  method: 'get',
  path: '/v1/providers',
  tags,
  summary: 'Providers the gateway calls (an arm\'s "provider" names one), without their keys',
  responses: { 200: jsonResponse(z.object({ items: z.array(ProviderSchema) }), 'Every provider') },
});

export const getProvider = createRoute({
  method: 'get',
  path: '/v1/providers/{name}',
  tags,
  summary: 'One provider, without its key',
  request: { params: NameParam },
  responses: responses.read('The provider'),
});

export const putProvider = createRoute({
  method: 'put',
  path: '/v1/providers/{name}',
  tags,
  summary: 'Create or replace a provider; its key is sealed at rest and never returned or logged',
  request: { params: NameParam, ...jsonBody(PutProviderBody) },
  responses: {
    ...responses.update(
      'The provider, replaced',
      'Invalid body, named by field; or base_url changed without api_key',
    ),
    201: jsonResponse(ProviderSchema, 'The provider, created'),
  },
});

export const deleteProvider = createRoute({
  method: 'delete',
  path: '/v1/providers/{name}',
  tags,
  summary: 'Remove a provider; arms naming it fail at the gateway until it exists again',
  request: { params: NameParam },
  responses: responses.remove(),
});
