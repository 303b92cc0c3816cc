import { createHmac, timingSafeEqual } from 'node:crypto';
import type { RouteHandler } from '@hono/zod-openapi';
import { AppError } from '../../../domain/errors';
import { workflowIds } from '../../../domain/names';
import { SLACK_ROLES, type SlackSettings } from '../../../app/integration-settings';
import type { RolloutView } from '../../../app/rollouts';
import { signatureFailures } from '../../lib/signature-failures';
import type { ApiDeps, AppBindings } from '../../lib/types';
import type { slackCommand } from './slack.routes';

type SlackRole = (typeof SLACK_ROLES)[number];

/** Slack's replay window for signed requests. */
export const SLACK_MAX_SKEW_SECONDS = 5 * 60;

/** Verifies X-Slack-Signature: v0=hex(HMAC-SHA256(signing secret, "v0:<timestamp>:<raw body>")). */
export function verifySlackSignature(
  secret: string,
  timestamp: string | undefined,
  signature: string | undefined,
  body: string,
  nowSeconds: number,
): string | undefined {
  if (!timestamp || !signature) return 'missing X-Slack-Signature or X-Slack-Request-Timestamp';
  const ts = Number(timestamp);
  if (!Number.isInteger(ts) || Math.abs(nowSeconds - ts) > SLACK_MAX_SKEW_SECONDS)
    return 'request timestamp is not within 5 minutes';
  const expected = Buffer.from(
    `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`,
  );
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return 'signature does not match';
  return undefined;
}

/** The role mapped to a Slack user, read from the mapping's own entries and only if it is a known role. */
export function slackRole(mapping: SlackSettings['userRoles'], user: string): SlackRole | undefined {
  if (!Object.hasOwn(mapping, user)) return undefined;
  const role: unknown = mapping[user];
  return (SLACK_ROLES as readonly unknown[]).includes(role) ? (role as SlackRole) : undefined;
}

type Reply = { response_type: 'ephemeral' | 'in_channel'; text: string; blocks?: unknown[] };
const ephemeral = (text: string): Reply => ({ response_type: 'ephemeral', text });
const USAGE =
  'Usage: `status <rollout>`, `pause <rollout> [reason]`, `abort <rollout> [reason]`; <rollout> is `rollout-<target>-<decision id>` or `<target> <decision id>`.';

function rolloutId(args: string[]): { id: string; rest: string[] } | undefined {
  const [first, second, ...rest] = args;
  if (!first) return undefined;
  if (first.startsWith('rollout-')) return { id: first, rest: second ? [second, ...rest] : rest };
  if (!second) return undefined;
  return { id: workflowIds.rollout(first, second), rest };
}

function statusReply({ rollout: r, workflow: w }: RolloutView): Reply {
  const stage = r.stages[r.current_stage];
  const lines = [
    `*${r.id}*: ${r.state}${w.paused ? ' (paused)' : ''}`,
    // Stage indexes are 0-based, as in the API, so the number read here is the one to approve.
    `stage ${r.current_stage} (of 0-${r.stages.length - 1})${stage ? ` at ${stage.canary_bps} bps` : ''}, config v${r.to_version ?? r.from_version}`,
    ...(r.reason ? [`reason: ${r.reason}`] : []),
  ];
  return {
    response_type: 'ephemeral',
    text: lines.join('\n'),
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: lines.join('\n') } }],
  };
}

export function slackHandlers(deps: ApiDeps) {
  // The container's resolver: its repository opens secrets with the container's secret box.
  const { settings } = deps;
  const refused = signatureFailures(deps.metrics, 'slack');
  const { rollouts } = deps.services;

  const command: RouteHandler<typeof slackCommand, AppBindings> = async (c) => {
    const raw = await c.req.text();
    const slack: SlackSettings | undefined = await settings.slack();
    if (!slack?.signingSecret) throw new AppError('not_found', 'Slack commands are not configured');
    const problem = verifySlackSignature(
      slack.signingSecret,
      c.req.header('x-slack-request-timestamp'),
      c.req.header('x-slack-signature'),
      raw,
      Math.floor(Date.now() / 1000),
    );
    if (problem) {
      refused.inc();
      throw new AppError('unauthorized', problem);
    }

    const form = new URLSearchParams(raw);
    const user = form.get('user_id') ?? '';
    const [verb = 'help', ...args] = (form.get('text') ?? '').trim().split(/\s+/).filter(Boolean);
    // An own key of the mapping only: a Slack user id such as "constructor" or "__proto__" must not
    // reach Object.prototype and come back as a role.
    const role = slackRole(slack.userRoles, user);
    const log = c.get('logger').child({ slackUser: user, verb });

    if (verb === 'help' || !['status', 'pause', 'abort'].includes(verb)) return c.json(ephemeral(USAGE), 200);
    if (!role)
      return c.json(
        ephemeral(
          `You (<@${user}>) have no role for optimizer commands; ask an admin to map your Slack user.`,
        ),
        200,
      );
    if (verb !== 'status' && role !== 'operator')
      return c.json(ephemeral(`\`${verb}\` needs the operator role; you are ${role}.`), 200);
    const target = rolloutId(args);
    if (!target) return c.json(ephemeral(USAGE), 200);

    try {
      if (verb === 'status') return c.json(statusReply(await rollouts.describe(target.id)), 200);
      // The Slack user whose signed request this is acts, as an API caller does.
      const caller = { id: `slack:${user}`, actor: `slack:${user}` };
      const request = { reason: target.rest.join(' ') || `${verb} from Slack` };
      await (verb === 'pause' ? rollouts.pause : rollouts.abort)(caller, target.id, request);
      log.info({ rollout: target.id }, `rollout ${verb} requested from Slack`);
      return c.json(
        { response_type: 'in_channel' as const, text: `<@${user}> requested *${verb}* of \`${target.id}\`.` },
        200,
      );
    } catch (err) {
      // Slack shows the reply to the person who typed the command: a refusal is said there, not as an HTTP error.
      if (err instanceof AppError && (err.type === 'not_found' || err.type === 'conflict'))
        return c.json(ephemeral(`\`${target.id}\`: ${err.message}.`), 200);
      throw err;
    }
  };

  return { command };
}
