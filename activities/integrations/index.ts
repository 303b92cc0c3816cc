/**
 * Activities of the integrations task queue, built over the process's container (app/compose.ts):
 * webhook delivery, Slack, GitHub, Jira, Anthropic and the publish activity of the notification
 * workflows. Workflows import the type only.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { DomainEvent } from '../../domain/domain-events';
import type { EvalResultEvent } from '../../domain/events';
import type { Env } from '../../platform/env';
import { destinationPolicy } from '../../platform/outbound';
import { SecretDecryptionError } from '../../platform/secrets';
import type { Container } from '../../app/compose';
import type { IntegrationActivities, NotificationPlan, NotifyIntegration } from '../../workflows/contracts';
import type { createAnthropicActivities, JudgeInput, PromptVariantInput } from './anthropic';
import { createGithubActivities, wantsGithubIssue } from './github';
import { createIsolation } from './isolation';
import { createJiraActivities, JIRA_EVENTS } from './jira';
import { createJudgeRunActivities } from './judge-run';
import { integrationMetrics } from './metrics';
import { createSlackActivities, SLACK_EVENTS } from './slack';
import { createWebhookActivities } from './webhooks';
import { createPublishActivities, type PublishOptions } from './publish';
import { FAILURE_TYPES } from '../../domain/errors';

/** What the integrations queue's activities use of the container. */
export type IntegrationsContainer = Pick<
  Container,
  'repos' | 'settings' | 'env' | 'logger' | 'metrics' | 'taskQueues' | 'temporal'
>;

export interface IntegrationOptions {
  /** Jitter source; tests may pin it. */
  random?: () => number;
  /** Where the judge's eval.result events go; by default POSTed to EVAL_EVENTS_URL (the API's ingest). */
  emitEvalEvents?: (events: EvalResultEvent[]) => Promise<void>;
  /** How published events are delivered (the env's policy when unset). */
  publish?: PublishOptions;
}

/** Posts eval.result events to the API's ingest endpoint, which makes them durable before it answers. */
function postToIngest(env: Env) {
  return async (events: EvalResultEvent[]): Promise<void> => {
    if (!env.EVAL_EVENTS_URL)
      throw ApplicationFailure.nonRetryable(
        'EVAL_EVENTS_URL is not set: nowhere to send eval.result events',
        FAILURE_TYPES.InvalidConfig,
      );
    const res = await fetch(env.EVAL_EVENTS_URL, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(env.EVAL_EVENTS_API_KEY ? { authorization: `Bearer ${env.EVAL_EVENTS_API_KEY}` } : {}),
      },
      body: JSON.stringify(events),
      signal: AbortSignal.timeout(10_000),
      // The operator's own API, set in the environment; a redirect there is a misconfiguration.
      redirect: 'error',
    });
    if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
      throw ApplicationFailure.nonRetryable(
        `ingest refused eval.result events: ${res.status} ${(await res.text()).slice(0, 300)}`,
        FAILURE_TYPES.InvalidInput,
      );
    }
    if (!res.ok) throw new Error(`ingest answered ${res.status}`);
  };
}

/**
 * Every activity of the integrations task queue. Integration settings, secrets and webhook rows come
 * from the container's repositories and resolver; its metrics registry counts deliveries and breakers.
 */
export function createIntegrationActivities(c: IntegrationsContainer, opts: IntegrationOptions = {}) {
  const { env, logger, settings } = c;
  const { webhooks, integrations } = c.repos;
  const destinations = destinationPolicy(env);
  const isolation = createIsolation(
    {
      ratePerSecond: env.INTEGRATION_RATE_LIMIT_PER_SECOND,
      errorPercent: env.INTEGRATION_BREAKER_ERROR_PERCENT,
      resetMs: env.INTEGRATION_BREAKER_RESET_MS,
      timeoutMs: env.WEBHOOK_TIMEOUT_MS,
    },
    destinations,
  );
  const metrics = integrationMetrics(c.metrics.registry);
  metrics.watchBreakers(isolation.breakerStates);
  const webhookActivities = createWebhookActivities({
    webhooks,
    logger,
    destinations,
    metrics,
    config: {
      timeoutMs: env.WEBHOOK_TIMEOUT_MS,
      maxRedirects: env.WEBHOOK_MAX_REDIRECTS,
      responseLogBytes: env.WEBHOOK_RESPONSE_LOG_BYTES,
      retryInitialMs: env.WEBHOOK_RETRY_INITIAL_MS,
      retryMaxMs: env.WEBHOOK_RETRY_MAX_MS,
      retryAfterMaxMs: env.WEBHOOK_RETRY_AFTER_MAX_MS,
    },
    ...(opts.random ? { random: opts.random } : {}),
  });
  const shared = { settings, isolation, integrations };
  // Imported on the first judge call, not with this module: the orchestration worker, which imports this
  // module for the notify starter only, then never loads the Anthropic SDK (a third of a second of CPU).
  let anthropicLoaded: Promise<ReturnType<typeof createAnthropicActivities>> | undefined;
  const anthropicActivities = () =>
    (anthropicLoaded ??= import('./anthropic').then(
      (m) =>
        m.createAnthropicActivities({
          settings,
          isolation,
          destinations,
          logger,
          emit: opts.emitEvalEvents ?? postToIngest(env),
          maxRetries: env.ANTHROPIC_MAX_RETRIES,
          timeoutMs: env.ANTHROPIC_TIMEOUT_MS,
          metrics,
        }),
      (err: unknown) => {
        anthropicLoaded = undefined;
        throw err;
      },
    ));
  const anthropic = {
    judgeSamples: async (input: JudgeInput) => (await anthropicActivities()).judgeSamples(input),
    proposePromptVariants: async (input: PromptVariantInput) =>
      (await anthropicActivities()).proposePromptVariants(input),
  };

  const activities = {
    ...createPublishActivities(c, opts.publish),
    ...webhookActivities,
    ...createSlackActivities(shared),
    ...createGithubActivities(shared),
    ...createJiraActivities(shared),
    ...anthropic,
    ...createJudgeRunActivities({
      judge: c.repos.judge,
      targets: c.repos.targets,
      settings,
      logger,
      judgeSamples: anthropic.judgeSamples,
      proposePromptVariants: anthropic.proposePromptVariants,
      retentionHours: env.JUDGE_SAMPLE_RETENTION_HOURS,
    }),

    /**
     * Who hears about an event: a delivery row per matching webhook subscription (created once) and each
     * configured integration that handles its type. Retried until the database answers.
     */
    async planNotifications(event: DomainEvent): Promise<NotificationPlan> {
      const deliveries = await webhookActivities.planWebhookDeliveries(event);
      const wanted: NotifyIntegration[] = [];
      // A stored secret this process cannot open (another SECRETS_KEY) must not stop the webhooks and the
      // other integrations: the integration stays planned, so its own delivery fails visibly, with the reason.
      const read = <T>(kind: NotifyIntegration, get: () => Promise<T>) =>
        get().catch((err: unknown): 'unreadable' => {
          if (!(err instanceof SecretDecryptionError)) throw err;
          logger.error({ integration: kind, err: err.message }, 'integration settings cannot be decrypted');
          return 'unreadable';
        });
      const [slack, github, jira] = await Promise.all([
        read('slack', () => settings.slack()),
        read('github', () => settings.github()),
        read('jira', () => settings.jira()),
      ]);
      const has = <T>(v: T | 'unreadable', ok: (v: T) => boolean) => v === 'unreadable' || ok(v);
      if (has(slack, (v) => !!(v?.botToken || v?.webhookUrl)) && SLACK_EVENTS.includes(event.type))
        wanted.push('slack');
      if (has(github, (v) => !!v?.token) && wantsGithubIssue(event)) wanted.push('github');
      if (has(jira, (v) => !!v) && (JIRA_EVENTS as readonly string[]).includes(event.type))
        wanted.push('jira');
      return { deliveries, integrations: wanted };
    },
  };
  // More than the workflows call (the judge's Anthropic steps are registered too): checked, not narrowed.
  return activities satisfies IntegrationActivities;
}
export type { IntegrationActivities };

export { createNotifyStarter, deliveryPolicy } from './notify-starter';
export { signatureHeader, verifySignature } from './signature';
