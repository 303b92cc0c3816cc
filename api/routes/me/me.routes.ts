/** Contract of the caller's own identity: who the API takes the caller for, and what it may do. */
import { createRoute, z } from '@hono/zod-openapi';
import { PERMISSIONS, ROLES } from '../../lib/permissions';
import { jsonResponse } from '../../lib/schemas';

export const MeSchema = z
  .object({
    id: z.string().describe('Stable id: key:<prefix> for an API key, jwt:<iss>|<sub> for a token'),
    actor: z.string().describe('Who acts, as audit and history record it: the key name or the token subject'),
    kind: z.enum(['api_key', 'jwt']),
    roles: z.array(z.enum(ROLES)),
    permissions: z.array(z.enum(PERMISSIONS)).describe('Every permission the roles grant, in table order'),
  })
  .openapi('Me');

export const getMe = createRoute({
  method: 'get',
  path: '/v1/me',
  tags: ['me'],
  summary: "The caller's identity, roles and permissions",
  responses: { 200: jsonResponse(MeSchema, 'The authenticated caller') },
});
