/** Contract of the audit log: who changed what, when, newest first, filtered and paginated. */
import { createRoute, z } from '@hono/zod-openapi';
import { jsonResponse, pageOf, problemResponse } from '../../lib/schemas';

export const AuditEntrySchema = z
  .object({
    id: z.number().int(),
    at: z.string().datetime(),
    actor: z.string().describe('Identity id: key:<prefix>, jwt:<subject> or ip:<address>'),
    actor_kind: z.enum(['api_key', 'jwt', 'anonymous', 'system']),
    roles: z.array(z.string()),
    action: z.string().describe('METHOD and route template, e.g. "PATCH /v1/targets/{target}"'),
    resource: z.string().describe('The path acted on'),
    outcome: z.enum(['success', 'denied', 'failed']),
    status: z.number().int(),
    request_id: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
  })
  .openapi('AuditEntry');

export const listAudit = createRoute({
  method: 'get',
  path: '/v1/audit',
  tags: ['audit'],
  summary: 'The audit log: every change and every refused attempt, newest first',
  request: {
    query: z
      .object({
        actor: z.string().max(300).optional(),
        action: z.string().max(300).optional(),
        resource: z.string().max(500).optional().describe('Path prefix, e.g. /v1/targets/support-bot'),
        outcome: z.enum(['success', 'denied', 'failed']).optional(),
        since: z.string().datetime({ offset: true }).optional(),
        until: z.string().datetime({ offset: true }).optional(),
        limit: z.coerce.number().int().min(1).max(500).default(100),
        cursor: z.string().max(200).optional(),
      })
      .strict(),
  },
  responses: {
    200: jsonResponse(pageOf(AuditEntrySchema), 'A page of entries'),
    400: problemResponse('Invalid query; `errors` names each parameter'),
  },
});
