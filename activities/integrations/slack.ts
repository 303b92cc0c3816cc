/**
 * Slack: Block Kit messages for rollouts, rollbacks and anomalies, through chat.postMessage (bot token)
 * or an incoming webhook. A posted message is remembered by event id, so a retried activity whose first
 * try reached Slack does not post twice.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { DomainEvent, DomainEventType } from '../../domain/domain-events';
import type { IntegrationsRepo } from '../../adapters/db/repos/integrations';
import type { SettingsResolver } from '../../app/integration-settings';
import type { Isolation } from './isolation';
import { FAILURE_TYPES } from '../../domain/errors';

export const SLACK_EVENTS: readonly DomainEventType[] = [
  'rollout.started',
  'rollout.paused',
  'rollout.promoted',
  'rollout.rolled_back',
  'anomaly.detected',
  'budget.threshold_crossed',
  'cycle.failed',
];

const HEADLINE: Partial<Record<DomainEventType, string>> = {
  'rollout.started': ':rocket: Canary rollout started',
  'rollout.stage_promoted': ':arrow_up: Canary stage promoted',
  'rollout.paused': ':double_vertical_bar: Rollout paused',
  'rollout.promoted': ':white_check_mark: Rollout promoted',
  'rollout.rolled_back': ':rotating_light: Rollout rolled back',
  'anomaly.detected': ':warning: Anomaly detected',
  'budget.threshold_crossed': ':moneybag: Budget threshold crossed',
  'cycle.failed': ':x: Optimization cycle failed',
};

const DETAIL_KEYS = [
  'rollout_id',
  'decision_id',
  'stage',
  'canary_bps',
  'reason',
  'metric',
  'severity',
  'from_version',
  'to_version',
];

/** Escapes the three characters Slack's mrkdwn treats as control characters. */
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The Block Kit message of an event: a header, the summary, key facts as fields, and the event id. */
export function slackMessage(event: DomainEvent): { text: string; blocks: unknown[] } {
  const headline = HEADLINE[event.type] ?? event.type;
  const where = event.segment ? `${event.target}/${event.segment}` : event.target;
  const fields = [
    { type: 'mrkdwn', text: `*Target*\n${esc(where)}` },
    ...DETAIL_KEYS.filter((k) => event.data[k] !== undefined && event.data[k] !== null)
      .slice(0, 9)
      .map((k) => ({
        type: 'mrkdwn',
        text: `*${k.replace(/_/g, ' ')}*\n${esc(String(event.data[k] as string | number)).slice(0, 200)}`,
      })),
  ];
  return {
    text: `${headline}: ${where}: ${event.summary}`,
    blocks: [
      {
        type: 'header',
        text: {
          type: 'plain_text',
          text: `${headline.replace(/^:[a-z_]+: /, '')}: ${where}`.slice(0, 150),
          emoji: true,
        },
      },
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: `${headline.match(/^:[a-z_]+:/)?.[0] ?? ''} ${esc(event.summary)}`.trim().slice(0, 3000),
        },
      },
      { type: 'section', fields },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: `\`${esc(event.type)}\` · event \`${esc(event.id)}\` · ${event.occurred_at}`,
          },
        ],
      },
    ],
  };
}

export function createSlackActivities(deps: {
  settings: SettingsResolver;
  isolation: Isolation;
  integrations: IntegrationsRepo;
}) {
  return {
    /**
     * Posts the event's Block Kit message. Retries 429 (honouring Retry-After) and 5xx; non-retryable
     * `DeliveryRejected` when Slack refuses the request (bad token, unknown channel); `InvalidConfig`
     * when Slack is not configured.
     */
    async notifySlack(event: DomainEvent): Promise<string> {
      const s = await deps.settings.slack();
      if (!s || (!s.botToken && !s.webhookUrl))
        throw ApplicationFailure.nonRetryable('Slack is not configured', FAILURE_TYPES.InvalidConfig);
      const posted = await deps.integrations.fingerprint('slack', event.id);
      if (posted?.external_id) return `already posted (${posted.external_id})`;
      const message = slackMessage(event);
      let ref: string;
      if (s.botToken) {
        if (!s.channel)
          throw ApplicationFailure.nonRetryable(
            'Slack channel is not configured',
            FAILURE_TYPES.InvalidConfig,
          );
        const res = await deps.isolation.run('slack', () =>
          deps.isolation.json<{ ok: boolean; error?: string; ts?: string; channel?: string }>('slack', {
            method: 'POST',
            url: `${s.apiBaseUrl.replace(/\/$/, '')}/chat.postMessage`,
            headers: { authorization: `Bearer ${s.botToken}` },
            json: { channel: s.channel, text: message.text, blocks: message.blocks, unfurl_links: false },
          }),
        );
        if (!res.json?.ok) {
          const error = res.json?.error ?? 'unknown_error';
          if (
            error === 'ratelimited' ||
            error === 'internal_error' ||
            error === 'service_unavailable' ||
            error === 'fatal_error'
          ) {
            throw ApplicationFailure.create({
              message: `Slack answered ${error}`,
              type: 'IntegrationUnavailable',
            });
          }
          throw ApplicationFailure.nonRetryable(
            `Slack refused the message: ${error}`,
            FAILURE_TYPES.DeliveryRejected,
          );
        }
        ref = `${res.json.channel ?? s.channel}:${res.json.ts ?? ''}`;
      } else {
        await deps.isolation.run('slack', () =>
          deps.isolation.json('slack', { method: 'POST', url: s.webhookUrl!, json: message }),
        );
        ref = 'incoming-webhook';
      }
      await deps.integrations.saveFingerprint({
        kind: 'slack',
        fingerprint: event.id,
        external_id: ref,
        external_url: null,
        event_id: event.id,
      });
      return `posted ${ref}`;
    },
  };
}
