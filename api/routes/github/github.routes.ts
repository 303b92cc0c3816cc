/** Inbound GitHub webhooks (issue events), verified with X-Hub-Signature-256. */
import { createRoute, z } from '@hono/zod-openapi';
import { jsonResponse, problemResponse } from '../../lib/schemas';

export const githubWebhook = createRoute({
  method: 'post',
  path: '/v1/github/webhooks',
  tags: ['github'],
  summary: 'GitHub webhook receiver: a closed issue resolves its incident so a recurrence opens a new issue',
  description:
    'Authenticated by X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the webhook secret>.',
  responses: {
    200: jsonResponse(
      z.object({ ok: z.boolean(), event: z.string(), resolved: z.number().int().optional() }),
      'Handled (or ignored)',
    ),
    401: problemResponse('Missing or wrong signature'),
    404: problemResponse('GitHub webhooks are not configured'),
    422: problemResponse('Body is not a GitHub event payload'),
  },
});
