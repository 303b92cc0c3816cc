/** Contracts of API keys: create (the secret is shown once), list, read, revoke. Admin only. */
import { createRoute, z } from '@hono/zod-openapi';
import { ROLES } from '../../lib/permissions';
import { crudResponses, jsonBody, jsonResponse, problemResponse } from '../../lib/schemas';

export const ApiKeySchema = z
  .object({
    id: z.string().uuid(),
    prefix: z.string().describe('Public part of the key, shown in listings and the audit log'),
    name: z.string(),
    roles: z.array(z.enum(ROLES)),
    created_by: z.string(),
    created_at: z.string().datetime(),
    expires_at: z.string().datetime().nullable(),
    last_used_at: z.string().datetime().nullable(),
    revoked_at: z.string().datetime().nullable(),
  })
  .openapi('ApiKey');

export const CreatedApiKeySchema = ApiKeySchema.extend({
  key: z.string().describe('The secret key. Shown only in this response; store it now.'),
}).openapi('CreatedApiKey');

export const CreateApiKeyBody = z
  .object({
    name: z.string().min(1).max(200),
    roles: z
      .array(z.enum(ROLES))
      .min(1)
      .max(ROLES.length)
      .refine((r) => new Set(r).size === r.length, { message: 'roles must be unique' }),
    expires_at: z
      .string()
      .datetime({ offset: true })
      .optional()
      .describe('When the key stops working; never when absent'),
  })
  .strict()
  .openapi('CreateApiKey', { example: { name: 'support-bot telemetry', roles: ['ingest'] } });

export const ApiKeyId = z.object({
  id: z
    .string()
    .uuid()
    .openapi({ param: { name: 'id', in: 'path' } }),
});

export const createApiKey = createRoute({
  method: 'post',
  path: '/v1/api-keys',
  tags: ['api-keys'],
  summary: 'Create an API key scoped to roles; the response is the only time the secret is shown',
  request: jsonBody(CreateApiKeyBody),
  responses: {
    201: jsonResponse(CreatedApiKeySchema, 'The key, with its secret'),
    422: problemResponse('Invalid body; `errors` names each field'),
  },
});

const keyResponses = crudResponses(ApiKeySchema, 'No such key');

export const listApiKeys = createRoute({
  method: 'get',
  path: '/v1/api-keys',
  tags: ['api-keys'],
  summary: 'List API keys, newest first (never their secrets)',
  request: {
    query: z.object({
      limit: z.coerce.number().int().min(1).max(200).default(50),
      cursor: z.string().max(500).optional(),
      include_revoked: z.enum(['true', 'false']).default('false'),
    }),
  },
  responses: keyResponses.page('A page of keys'),
});

export const getApiKey = createRoute({
  method: 'get',
  path: '/v1/api-keys/{id}',
  tags: ['api-keys'],
  summary: 'Read an API key, with its last-used time',
  request: { params: ApiKeyId },
  responses: { ...keyResponses.read('The key'), 400: problemResponse('Malformed id') },
});

export const revokeApiKey = createRoute({
  method: 'delete',
  path: '/v1/api-keys/{id}',
  tags: ['api-keys'],
  summary:
    'Revoke an API key (it stops working at once on this replica, within a second on others: the revocation is broadcast)',
  request: { params: ApiKeyId },
  responses: { ...keyResponses.read('The revoked key'), 400: problemResponse('Malformed id') },
});
