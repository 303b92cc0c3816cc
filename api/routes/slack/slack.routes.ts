/** Slack slash commands: `/llmopt status|pause|abort <rollout>`, verified with Slack's v0 signature. */
import { createRoute, z } from '@hono/zod-openapi';
import { jsonResponse, problemResponse } from '../../lib/schemas';

export const SlackCommandReply = z
  .object({
    response_type: z.enum(['ephemeral', 'in_channel']),
    text: z.string(),
    blocks: z.array(z.unknown()).optional(),
  })
  .openapi('SlackCommandReply');

export const slackCommand = createRoute({
  method: 'post',
  path: '/v1/slack/commands',
  tags: ['slack'],
  summary: 'Slash command endpoint (application/x-www-form-urlencoded, as Slack sends it)',
  description:
    'Authenticated by X-Slack-Signature (v0 HMAC-SHA256 of "v0:<X-Slack-Request-Timestamp>:<raw body>" with the signing secret), ' +
    'timestamp within 5 minutes. Text: `status <rollout id>`, `pause <rollout id> [reason]`, `abort <rollout id> [reason]`, ' +
    'where the rollout id is `rollout-<target>-<decision id>` or `<target> <decision id>`. pause and abort need the operator role ' +
    'in the Slack user mapping; status needs viewer or operator.',
  responses: {
    200: jsonResponse(
      SlackCommandReply,
      'The reply Slack shows (errors of use are replies too, as Slack expects 200)',
    ),
    401: problemResponse('Missing, stale or wrong signature'),
    404: problemResponse('Slack commands are not configured'),
  },
});
