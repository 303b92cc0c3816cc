/**
 * The outbound path of a test message: the very activity code a real notification runs (Slack's
 * `notifySlack`: settings resolved the same way, the same message builder, the guarded client under the
 * same isolation), watched from outside so that what happened can be told precisely. It lives here, not
 * in app/, because app/ sits below the activities that own the sending code.
 *
 * A test message is not remembered as posted (a real event's id is, so a retry does not post twice).
 */
import { ApplicationFailure } from '@temporalio/common';
import type { DomainEvent } from '../../../domain/domain-events';
import { FAILURE_TYPES } from '../../../domain/errors';
import type { IntegrationKind, IntegrationsRepo } from '../../../adapters/db/repos/integrations';
import type { OutboundTester, TestOutcome, TestResult } from '../../../app/integrations';
import type { SettingsResolver } from '../../../app/integration-settings';
import {
  createIsolation,
  IntegrationHttpError,
  type Isolation,
} from '../../../activities/integrations/isolation';
import { createSlackActivities } from '../../../activities/integrations/slack';
import type { Env } from '../../../platform/env';
import { destinationPolicy, DestinationRefused, OutboundNetworkError } from '../../../platform/outbound';
import { SecretDecryptionError } from '../../../platform/secrets';

type Observed = Omit<TestResult, 'kind' | 'durationMs'>;

/** What the exchange showed, recorded as it passes through the isolation's JSON client. */
interface Seen {
  status?: number;
  body?: string;
  destination?: string;
  blocked?: string;
  network?: string;
}

const hostOf = (url: string): string | null => {
  try {
    return new URL(url).host;
  } catch {
    return null;
  }
};

/** The isolation of the kind, with every exchange it makes written down in `seen`. */
function watched(isolation: Isolation, seen: Seen): Isolation {
  return {
    ...isolation,
    async json(kind, req) {
      seen.destination = hostOf(req.url) ?? undefined;
      try {
        const res = await isolation.json(kind, req);
        seen.status = res.status;
        seen.body = res.text;
        return res as never;
      } catch (err) {
        if (err instanceof IntegrationHttpError) {
          seen.status = err.status;
          seen.body = err.body;
        } else if (err instanceof DestinationRefused) seen.blocked = err.message;
        else if (err instanceof OutboundNetworkError) seen.network = err.message;
        throw err;
      }
    },
  };
}

/** Reads the failure a notification would have ended with as the outcome an operator acts on. */
function outcomeOf(err: unknown, seen: Seen): { outcome: TestOutcome; detail: string } {
  if (err instanceof SecretDecryptionError) return { outcome: 'unreadable_secret', detail: err.message };
  if (seen.blocked) return { outcome: 'blocked', detail: seen.blocked };
  if (seen.network) {
    const timedOut = /no answer within|socket idle|timed? ?out/i.test(seen.network);
    return { outcome: timedOut ? 'timeout' : 'network_error', detail: seen.network };
  }
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof ApplicationFailure) {
    if (err.type === FAILURE_TYPES.InvalidConfig) return { outcome: 'not_configured', detail: message };
    if (err.type === 'RateLimited' || err.type === 'CircuitOpen')
      return { outcome: 'throttled', detail: message };
    if (err.type === FAILURE_TYPES.DeliveryRejected) return { outcome: 'rejected', detail: message };
    if (err.type === 'IntegrationUnavailable') return { outcome: 'unavailable', detail: message };
  }
  return { outcome: 'network_error', detail: message };
}

/**
 * The API's tester: one isolation (rate limit and breaker per kind) for every test this process sends,
 * apart from the integrations worker's, so a test cannot open the circuit real notifications go through.
 */
export function createOutboundTester(deps: {
  env: Env;
  settings: SettingsResolver;
  integrations: IntegrationsRepo;
}): OutboundTester {
  const { env } = deps;
  const isolation = createIsolation(
    {
      ratePerSecond: env.INTEGRATION_RATE_LIMIT_PER_SECOND,
      errorPercent: env.INTEGRATION_BREAKER_ERROR_PERCENT,
      resetMs: env.INTEGRATION_BREAKER_RESET_MS,
      timeoutMs: env.WEBHOOK_TIMEOUT_MS,
    },
    destinationPolicy(env),
  );
  // The real repository, except that a test message is never remembered as posted (nor found as such).
  const unremembered: IntegrationsRepo = {
    ...deps.integrations,
    fingerprint: async () => undefined,
    saveFingerprint: async () => undefined,
  };

  const senders: Partial<Record<IntegrationKind, (event: DomainEvent, seen: Seen) => Promise<string>>> = {
    slack: (event, seen) =>
      createSlackActivities({
        settings: deps.settings,
        isolation: watched(isolation, seen),
        integrations: unremembered,
      }).notifySlack(event),
  };

  return async (kind, event): Promise<Observed> => {
    const send = senders[kind];
    if (!send)
      return {
        delivered: false,
        outcome: 'unsupported',
        status: null,
        detail: `${kind} has no test message: its notifications open issues or spend tokens`,
        destination: null,
      };
    const seen: Seen = {};
    try {
      const ref = await send(event, seen);
      return {
        delivered: true,
        outcome: 'delivered',
        status: seen.status ?? null,
        detail: ref,
        destination: seen.destination ?? null,
      };
    } catch (err) {
      return {
        delivered: false,
        ...outcomeOf(err, seen),
        status: seen.status ?? null,
        destination: seen.destination ?? null,
      };
    }
  };
}
