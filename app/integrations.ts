/**
 * Integration settings (Slack, GitHub, Jira, Anthropic), once for every door: read them without their
 * secrets, configure one (settings replaced, secrets merged and sealed), remove one, take the judge's
 * samples at the configured rates, and send a test message through the integration's real outbound path.
 *
 * - A URL we will call is checked against the destination rules where it is entered.
 * - A stored secret is sent only to the address it was entered for: a change of that address must enter
 *   the secret again in the same request, unless the caller may move secrets (an admin).
 * - A test message answers what happened (delivered and the status the destination gave, or the precise
 *   failure); it is never an error of the request unless the request itself is wrong.
 */
import type { z } from 'zod';
import { AppError, formatPath, notFound, type FieldIssue } from '../domain/errors';
import type { DomainEvent, DomainEventType } from '../domain/domain-events';
import { DOMAIN_EVENT_VERSION } from '../domain/domain-events';
import type { Env } from '../platform/env';
import type { Logger } from '../platform/logger';
import { checkDestination, destinationPolicy, DestinationRefused } from '../platform/outbound';
import type { SecretBox } from '../platform/secrets';
import { withTransaction, type Db } from '../adapters/db/pool';
import {
  createIntegrationsRepo,
  publicView,
  type IntegrationKind,
  type IntegrationsRepo,
  type IntegrationView,
} from '../adapters/db/repos/integrations';
import type { JudgeRepo, JudgeSampleInput } from '../adapters/db/repos/judge';
import type { Caller } from './caller';
import { IntegrationSchemas, judgeSampleRate, sampledForJudge, secretsMovedBy } from './integration-settings';

/** What happened to a test message, in the words an operator acts on. */
export type TestOutcome =
  /** The destination accepted it (`status` is its answer). */
  | 'delivered'
  /** The integration is not configured, or disabled, or lacks what this kind needs to send. */
  | 'not_configured'
  /** The outbound guard refused the address before anything was sent (private address, bad URL). */
  | 'blocked'
  /** The destination answered and refused it (4xx, or Slack's `ok: false`). */
  | 'rejected'
  /** The destination answered 5xx, 408 or 429: a real notification would be retried. */
  | 'unavailable'
  /** No answer within the timeout. */
  | 'timeout'
  /** The connection failed (DNS, refused, reset, TLS). */
  | 'network_error'
  /** This process's limit or circuit breaker for the kind held the message back. */
  | 'throttled'
  /** A stored secret cannot be opened with this process's SECRETS_KEY. */
  | 'unreadable_secret'
  /** This kind has no test message (it sends nothing a test could exercise harmlessly). */
  | 'unsupported';

export interface TestResult {
  kind: IntegrationKind;
  delivered: boolean;
  outcome: TestOutcome;
  /** The HTTP status the destination answered, when it answered. */
  status: number | null;
  /** What happened, precisely (the destination's error, the guard's reason); never a secret. */
  detail: string;
  /** Host the message went to (never the full URL: a webhook URL is itself a secret). */
  destination: string | null;
  durationMs: number;
}

/**
 * Sends one event through the outbound path a real notification of `kind` takes. The layer that owns
 * that path (the integrations activities) implements it; the API hands it in.
 */
export type OutboundTester = (
  kind: IntegrationKind,
  event: DomainEvent,
) => Promise<Omit<TestResult, 'kind' | 'durationMs'>>;

/** What the service needs; the container of app/compose.ts has these fields. */
export interface IntegrationsDeps {
  db: Db;
  repos: { integrations: IntegrationsRepo; judge: JudgeRepo };
  secrets: SecretBox;
  env: Env;
  logger: Logger;
  /** Absent in a process that cannot send (the test then answers `unavailable`). */
  outbound?: OutboundTester | undefined;
}

/** Settings and secrets that are URLs we will call: checked against the destination rules. */
const URL_FIELDS = [
  ['settings', 'api_base_url'],
  ['settings', 'base_url'],
  ['secrets', 'webhook_url'],
] as const;

export interface IntegrationInput {
  enabled: boolean;
  settings: Record<string, unknown>;
  secrets: Record<string, string | null>;
}

const issuesOf = (error: z.ZodError, prefix: string): FieldIssue[] =>
  error.issues.map((i) => ({
    path: formatPath([prefix, ...(i.path as (string | number)[])]),
    message: i.message,
  }));

/** The test message: an event of its own type, so no receiver mistakes it for a real rollout or anomaly. */
export function testEvent(caller: Caller, kind: IntegrationKind, now = new Date()): DomainEvent {
  return {
    id: `integration-test-${kind}-${now.getTime()}-${Math.random().toString(36).slice(2, 10)}`,
    type: 'integration.test' as DomainEventType,
    version: DOMAIN_EVENT_VERSION,
    occurred_at: now.toISOString(),
    target: 'llm-auto-optimizer',
    segment: null,
    summary: `Test message from llm-auto-optimizer, sent by ${caller.actor}`,
    data: { reason: `${kind} integration test` },
  };
}

export type IntegrationsService = ReturnType<typeof createIntegrationsService>;

export function createIntegrationsService(deps: IntegrationsDeps) {
  const repo = deps.repos.integrations;

  async function checkUrls(input: IntegrationInput): Promise<void> {
    const destinations = destinationPolicy(deps.env);
    for (const [part, field] of URL_FIELDS) {
      const value = (part === 'settings' ? input.settings : input.secrets)[field];
      if (typeof value !== 'string') continue;
      try {
        await checkDestination(value, destinations);
      } catch (err) {
        if (!(err instanceof DestinationRefused)) throw err;
        // The message names the host only: a webhook URL is itself a secret.
        throw new AppError('validation', `${part}.${field} is not an allowed destination`, {
          issues: [{ path: `${part}.${field}`, message: err.message }],
        });
      }
    }
  }

  function validated(kind: IntegrationKind, body: IntegrationInput): IntegrationInput {
    const schema = IntegrationSchemas[kind];
    const settings = schema.settings.safeParse(body.settings);
    const secrets = schema.secrets.safeParse(body.secrets);
    const issues = [
      ...(settings.success ? [] : issuesOf(settings.error, 'settings')),
      ...(secrets.success ? [] : issuesOf(secrets.error, 'secrets')),
    ];
    if (issues.length > 0 || !settings.success || !secrets.success) {
      throw new AppError(
        'validation',
        `invalid ${kind} configuration: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
        { issues },
      );
    }
    return {
      enabled: body.enabled,
      settings: settings.data,
      secrets: secrets.data,
    };
  }

  return {
    list: async (_caller: Caller): Promise<IntegrationView[]> => (await repo.list()).map(publicView),

    async get(_caller: Caller, kind: IntegrationKind): Promise<IntegrationView> {
      const r = await repo.get(kind);
      if (!r) throw notFound(`integration "${kind}"`);
      return publicView(r);
    },

    /**
     * Configures `kind`. `mayMoveSecrets`: the caller may send a stored secret to a new address without
     * entering it (admins); anyone else gets a validation error naming `secrets.<name>`.
     */
    async put(
      caller: Caller,
      kind: IntegrationKind,
      body: IntegrationInput,
      opts: { mayMoveSecrets: boolean },
    ): Promise<IntegrationView> {
      const next = validated(kind, body);
      await checkUrls(body);
      // Read, judged and written under one lock per kind, so no concurrent PUT can slip a secret in between.
      const { saved, moved } = await withTransaction(deps.db, async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`integration:${kind}`]);
        const locked = createIntegrationsRepo(tx, deps.secrets);
        const moved = secretsMovedBy(deps.env, await locked.get(kind), next);
        if (moved.length > 0 && !opts.mayMoveSecrets) {
          // A stored secret was entered for one address; sending it to another takes someone who knows it.
          throw new AppError(
            'validation',
            moved
              .map(
                (m) =>
                  `settings.${m.setting} changes where the stored secret ${m.secret} is sent: ` +
                  `enter secrets.${m.secret} again in the same request (or ask an admin to make the change)`,
              )
              .join('; '),
            {
              issues: moved.map((m) => ({
                path: `secrets.${m.secret}`,
                message: `required when settings.${m.setting} changes`,
              })),
            },
          );
        }
        return { saved: await locked.put(kind, next), moved };
      });
      deps.logger.info(
        {
          integration: kind,
          actor: caller.actor,
          enabled: saved.enabled,
          secrets_set: Object.keys(saved.secrets),
          ...(moved.length > 0 ? { secrets_moved_by_admin: moved.map((m) => m.secret) } : {}),
        },
        'integration configured',
      );
      return publicView(saved);
    },

    async remove(_caller: Caller, kind: IntegrationKind): Promise<void> {
      if (!(await repo.remove(kind))) throw notFound(`integration "${kind}"`);
    },

    /** Keeps each target's share of the samples (by a hash of request_id) for the LLM judge. */
    async submitJudgeSamples(_caller: Caller, samples: JudgeSampleInput[]) {
      const rates: Record<string, number> = {};
      for (const target of new Set(samples.map((s) => s.target)))
        rates[target] = await judgeSampleRate(deps.env, repo, target);
      const kept = samples.filter((s) => sampledForJudge(s.request_id, rates[s.target]!));
      const stored = await deps.repos.judge.submit(kept);
      return { received: samples.length, sampled: kept.length, stored, rates };
    },

    /** Sends a test message through `kind`'s real outbound path and says what happened. */
    async test(caller: Caller, kind: IntegrationKind): Promise<TestResult> {
      if (!deps.outbound)
        throw new AppError('unavailable', 'this process cannot send integration messages', {
          retryAfterSeconds: 5,
        });
      const started = performance.now();
      const r = await deps.outbound(kind, testEvent(caller, kind));
      const result = { kind, ...r, durationMs: Math.round(performance.now() - started) };
      deps.logger.info(
        { integration: kind, actor: caller.actor, outcome: r.outcome, status: r.status },
        'integration test message sent',
      );
      return result;
    },
  };
}
