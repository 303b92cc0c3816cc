/**
 * Settings of each integration: the schema the API validates (settings and secrets apart) and the
 * resolution used by the workers, where a configuration made through the API overrides the
 * environment as a whole (so a half-set API config never mixes with env secrets of another account).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Env } from '../platform/env';
import type { IntegrationKind, IntegrationRecord, IntegrationsRepo } from '../adapters/db/repos/integrations';
import type { DeliveryPolicy } from '../domain/delivery';

const httpUrl = z
  .string()
  .url()
  .refine((v) => /^https?:\/\//.test(v), { message: 'must start with http:// or https://' });
export const SLACK_ROLES = ['viewer', 'operator'] as const;

export const IntegrationSchemas = {
  slack: {
    settings: z
      .object({
        channel: z.string().min(1).max(200).optional(),
        api_base_url: httpUrl.optional(),
        /** Slack user id -> role for slash commands; `operator` may pause and abort. */
        user_roles: z
          .record(
            z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'a Slack user id (U... or W...)'),
            z.enum(SLACK_ROLES),
          )
          .optional(),
      })
      .strict(),
    secrets: z
      .object({
        bot_token: z.string().min(1).nullable(),
        webhook_url: httpUrl.nullable(),
        signing_secret: z.string().min(1).nullable(),
      })
      .partial()
      .strict(),
  },
  github: {
    settings: z
      .object({
        repository: z.string().regex(/^[\w.-]+\/[\w.-]+$/, 'owner/name'),
        api_base_url: httpUrl.optional(),
        labels: z.array(z.string().min(1).max(50)).max(20).optional(),
      })
      .strict(),
    secrets: z
      .object({ token: z.string().min(1).nullable(), webhook_secret: z.string().min(1).nullable() })
      .partial()
      .strict(),
  },
  jira: {
    settings: z
      .object({
        base_url: httpUrl,
        email: z.string().email(),
        project_key: z.string().regex(/^[A-Z][A-Z0-9_]{1,9}$/, 'a Jira project key such as OPS'),
        issue_type: z.string().min(1).max(100).optional(),
        done_transition: z.string().min(1).max(100).optional(),
      })
      .strict(),
    secrets: z
      .object({ api_token: z.string().min(1).nullable() })
      .partial()
      .strict(),
  },
  anthropic: {
    settings: z
      .object({
        base_url: httpUrl.optional(),
        model: z.string().min(1).max(200).optional(),
        price_input_per_mtok: z.number().min(0).max(10_000).optional(),
        price_output_per_mtok: z.number().min(0).max(10_000).optional(),
        /** Share of each target's requests sampled for the LLM judge (POST /v1/events/judge-samples). */
        judge_sample_rates: z
          .record(z.string().regex(/^[a-z0-9][a-z0-9._-]{0,99}$/, 'a target name'), z.number().min(0).max(1))
          .optional(),
        /** Rate of targets not named in judge_sample_rates; JUDGE_DEFAULT_SAMPLE_RATE when absent. */
        judge_default_sample_rate: z.number().min(0).max(1).optional(),
        /** What a good answer is, given to the judge; a generic helpfulness rubric when absent. */
        judge_rubric: z.string().min(1).max(4000).optional(),
        /** Text of each prompt template id arms name (`prompt_template`): what the prompt writer improves. */
        prompt_templates: z.record(z.string().min(1).max(200), z.string().min(1).max(20_000)).optional(),
        /** A segment with fewer live prompt variants than this gets new ones proposed each cycle (absent: only when an experiment concludes). */
        proposal_min_live_variants: z.number().int().min(1).max(10).optional(),
        /** Variants the prompt writer drafts per proposal. */
        proposal_count: z.number().int().min(1).max(5).optional(),
      })
      .strict(),
    secrets: z
      .object({ api_key: z.string().min(1).nullable() })
      .partial()
      .strict(),
  },
} as const;

/**
 * Where each stored secret is sent: the setting that holds the address, and the address when it is unset
 * (as the resolver below reads it). Secrets not listed are sent nowhere (signing secrets verify what
 * arrives) or are the address themselves (Slack's webhook_url: changing it means entering it).
 */
const SECRET_DESTINATIONS: Record<
  IntegrationKind,
  { secret: string; setting: string; unset: (env: Env) => string | undefined }[]
> = {
  slack: [{ secret: 'bot_token', setting: 'api_base_url', unset: (env) => env.SLACK_API_BASE_URL }],
  github: [{ secret: 'token', setting: 'api_base_url', unset: (env) => env.GITHUB_API_BASE_URL }],
  jira: [{ secret: 'api_token', setting: 'base_url', unset: () => undefined }],
  anthropic: [
    {
      secret: 'api_key',
      setting: 'base_url',
      unset: (env) => env.ANTHROPIC_BASE_URL ?? 'https://api.anthropic.com',
    },
  ],
};

/** One URL written two ways (case of the host, default port, a trailing slash) is one address. */
function sameAddress(a: string | undefined, b: string | undefined): boolean {
  const norm = (v: string | undefined) => {
    if (v === undefined) return undefined;
    try {
      return new URL(v).href.replace(/\/+$/, '');
    } catch {
      return v;
    }
  };
  return norm(a) === norm(b);
}

/**
 * The stored secrets that a PUT of `next` would send to another address than the one they were entered
 * for: the address setting changes and the secret is neither entered again nor removed in the same
 * request. Only an admin may move a secret without entering it (the API answers 422 to anyone else).
 */
export function secretsMovedBy(
  env: Env,
  stored: Pick<IntegrationRecord, 'kind' | 'settings' | 'secrets'> | undefined,
  next: { settings: Record<string, unknown>; secrets: Record<string, unknown> },
): { secret: string; setting: string; from: string | undefined; to: string | undefined }[] {
  if (!stored) return [];
  return SECRET_DESTINATIONS[stored.kind].flatMap(({ secret, setting, unset }) => {
    if (stored.secrets[secret] === undefined || secret in next.secrets) return [];
    const from = str(stored.settings[setting]) ?? unset(env);
    const to = str(next.settings[setting]) ?? unset(env);
    return sameAddress(from, to) ? [] : [{ secret, setting, from, to }];
  });
}

export interface SlackSettings {
  apiBaseUrl: string;
  botToken?: string;
  channel?: string;
  webhookUrl?: string;
  signingSecret?: string;
  userRoles: Record<string, (typeof SLACK_ROLES)[number]>;
}
export interface GithubSettings {
  apiBaseUrl: string;
  token: string;
  repository: string;
  labels: string[];
  webhookSecret?: string;
}
export interface JiraSettings {
  baseUrl: string;
  email: string;
  apiToken: string;
  projectKey: string;
  issueType: string;
  doneTransition: string;
}
export interface AnthropicSettings {
  apiKey: string;
  baseUrl?: string;
  model: string;
  priceInputPerMTok: number;
  priceOutputPerMTok: number;
  rubric?: string;
  promptTemplates: Record<string, string>;
  proposalMinLiveVariants?: number;
  proposalCount: number;
}

/** Keeps a request when its id hashes below the rate: stable across retries, replays and processes. */
export function sampledForJudge(requestId: string, rate: number): boolean {
  if (rate >= 1) return true;
  const h = createHash('sha256').update(requestId).digest().readUInt32BE(0);
  return h / 0xffffffff < rate;
}

/**
 * The judge's sampling rate of a target: the anthropic integration's `judge_sample_rates[target]`, its
 * `judge_default_sample_rate`, or JUDGE_DEFAULT_SAMPLE_RATE. Read by the API where samples arrive.
 */
export async function judgeSampleRate(env: Env, repo: IntegrationsRepo, target: string): Promise<number> {
  const r = await repo.get('anthropic');
  const rates = r?.settings.judge_sample_rates as Record<string, number> | undefined;
  return (
    rates?.[target] ??
    (r?.settings.judge_default_sample_rate as number | undefined) ??
    env.JUDGE_DEFAULT_SAMPLE_RATE
  );
}

function parseRoles(spec: string | undefined): SlackSettings['userRoles'] {
  const out: SlackSettings['userRoles'] = {};
  for (const pair of (spec ?? '').split(',')) {
    const [user, role] = pair.split(':').map((s) => s.trim());
    if (user && (role === 'viewer' || role === 'operator')) out[user] = role;
  }
  return out;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);

/** Resolves each integration's settings; undefined when it is not configured (or disabled). */
export function createSettingsResolver(env: Env, repo: IntegrationsRepo) {
  const stored = async (kind: IntegrationKind) => {
    const r = await repo.get(kind);
    if (r && !r.enabled) return 'disabled' as const;
    return r;
  };
  return {
    async slack(): Promise<SlackSettings | undefined> {
      const r = await stored('slack');
      if (r === 'disabled') return undefined;
      const s = r
        ? {
            apiBaseUrl: str(r.settings.api_base_url) ?? env.SLACK_API_BASE_URL,
            botToken: str(r.secrets.bot_token),
            channel: str(r.settings.channel),
            webhookUrl: str(r.secrets.webhook_url),
            signingSecret: str(r.secrets.signing_secret),
            userRoles: (r.settings.user_roles as SlackSettings['userRoles'] | undefined) ?? {},
          }
        : {
            apiBaseUrl: env.SLACK_API_BASE_URL,
            botToken: env.SLACK_BOT_TOKEN,
            channel: env.SLACK_CHANNEL,
            webhookUrl: env.SLACK_WEBHOOK_URL,
            signingSecret: env.SLACK_SIGNING_SECRET,
            userRoles: parseRoles(env.SLACK_USER_ROLES),
          };
      const out = Object.fromEntries(
        Object.entries(s).filter(([, v]) => v !== undefined),
      ) as unknown as SlackSettings;
      return out.botToken || out.webhookUrl || out.signingSecret ? out : undefined;
    },
    async github(): Promise<GithubSettings | undefined> {
      const r = await stored('github');
      if (r === 'disabled') return undefined;
      const token = r ? str(r.secrets.token) : env.GITHUB_TOKEN;
      const repository = r ? str(r.settings.repository) : env.GITHUB_REPOSITORY;
      const webhookSecret = r ? str(r.secrets.webhook_secret) : env.GITHUB_WEBHOOK_SECRET;
      if (!token || !repository) return webhookSecret ? ({ webhookSecret } as GithubSettings) : undefined;
      return {
        apiBaseUrl: (r ? str(r.settings.api_base_url) : undefined) ?? env.GITHUB_API_BASE_URL,
        token,
        repository,
        labels:
          (r?.settings.labels as string[] | undefined) ??
          env.GITHUB_ISSUE_LABELS.split(',')
            .map((l) => l.trim())
            .filter(Boolean),
        ...(webhookSecret ? { webhookSecret } : {}),
      };
    },
    async jira(): Promise<JiraSettings | undefined> {
      const r = await stored('jira');
      if (r === 'disabled') return undefined;
      const s = r
        ? {
            baseUrl: str(r.settings.base_url),
            email: str(r.settings.email),
            apiToken: str(r.secrets.api_token),
            projectKey: str(r.settings.project_key),
            issueType: str(r.settings.issue_type) ?? env.JIRA_ISSUE_TYPE,
            doneTransition: str(r.settings.done_transition) ?? env.JIRA_DONE_TRANSITION,
          }
        : {
            baseUrl: env.JIRA_BASE_URL,
            email: env.JIRA_EMAIL,
            apiToken: env.JIRA_API_TOKEN,
            projectKey: env.JIRA_PROJECT_KEY,
            issueType: env.JIRA_ISSUE_TYPE,
            doneTransition: env.JIRA_DONE_TRANSITION,
          };
      return s.baseUrl && s.email && s.apiToken && s.projectKey ? (s as JiraSettings) : undefined;
    },
    async anthropic(): Promise<AnthropicSettings | undefined> {
      const r = await stored('anthropic');
      if (r === 'disabled') return undefined;
      const apiKey = r ? str(r.secrets.api_key) : env.ANTHROPIC_API_KEY;
      if (!apiKey) return undefined;
      const baseUrl = (r ? str(r.settings.base_url) : undefined) ?? env.ANTHROPIC_BASE_URL;
      return {
        apiKey,
        ...(baseUrl ? { baseUrl } : {}),
        model: (r ? str(r.settings.model) : undefined) ?? env.ANTHROPIC_MODEL,
        priceInputPerMTok:
          (r?.settings.price_input_per_mtok as number | undefined) ?? env.ANTHROPIC_PRICE_INPUT_PER_MTOK,
        priceOutputPerMTok:
          (r?.settings.price_output_per_mtok as number | undefined) ?? env.ANTHROPIC_PRICE_OUTPUT_PER_MTOK,
        ...(str(r?.settings.judge_rubric) ? { rubric: str(r?.settings.judge_rubric)! } : {}),
        promptTemplates: (r?.settings.prompt_templates as Record<string, string> | undefined) ?? {},
        ...(typeof r?.settings.proposal_min_live_variants === 'number'
          ? { proposalMinLiveVariants: r.settings.proposal_min_live_variants }
          : {}),
        proposalCount: (r?.settings.proposal_count as number | undefined) ?? 3,
      };
    },
  };
}
export type SettingsResolver = ReturnType<typeof createSettingsResolver>;

/** The webhook delivery policy from the WEBHOOK_* settings; it travels in the workflow input (workflows read no env). */
export function deliveryPolicy(env: Env, overrides: Partial<DeliveryPolicy> = {}): DeliveryPolicy {
  return {
    maxAttempts: env.WEBHOOK_MAX_ATTEMPTS,
    initialIntervalMs: env.WEBHOOK_RETRY_INITIAL_MS,
    maxIntervalMs: env.WEBHOOK_RETRY_MAX_MS,
    attemptTimeoutMs: env.WEBHOOK_TIMEOUT_MS * (env.WEBHOOK_MAX_REDIRECTS + 1),
    heartbeatTimeoutMs: 10_000,
    integrationMaxAttempts: 10,
    ...overrides,
  };
}
