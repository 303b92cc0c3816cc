/** Contracts of integration settings: Slack, GitHub, Jira and Anthropic. Secrets are write-only. */
import { createRoute, z } from '@hono/zod-openapi';
import { INTEGRATION_KINDS } from '../../../adapters/db/repos/integrations';
import { crudResponses, jsonBody, jsonResponse, problemResponse } from '../../lib/schemas';

const KindParam = z.object({
  kind: z.enum(INTEGRATION_KINDS).openapi({ param: { name: 'kind', in: 'path' }, example: 'slack' }),
});

export const IntegrationView = z
  .object({
    kind: z.enum(INTEGRATION_KINDS),
    enabled: z.boolean(),
    settings: z.record(z.string(), z.unknown()),
    secrets_set: z.array(z.string()).describe('Names of the secrets that are set; values are never returned'),
    updated_at: z.string(),
  })
  .openapi('Integration');

export const PutIntegrationBody = z
  .object({
    enabled: z.boolean().default(true),
    /** Non-secret settings of the kind (see the description); replaced as a whole. */
    settings: z.record(z.string(), z.unknown()).default({}),
    /** Secrets to set; merged with the stored ones, null removes one. Never returned. */
    secrets: z.record(z.string(), z.string().nullable()).default({}),
  })
  .strict()
  .openapi('PutIntegration', {
    description:
      'slack: settings {channel, api_base_url, user_roles: {U123: "operator"|"viewer"}}, secrets {bot_token, webhook_url, signing_secret}. ' +
      'github: settings {repository, api_base_url, labels}, secrets {token, webhook_secret}. ' +
      'jira: settings {base_url, email, project_key, issue_type, done_transition}, secrets {api_token}. ' +
      'anthropic: settings {base_url, model, price_input_per_mtok, price_output_per_mtok}, secrets {api_key}. ' +
      'A change of the address a stored secret is sent to (api_base_url, base_url) needs that secret entered again ' +
      'in the same request, unless the caller is an admin.',
    example: {
      settings: { channel: 'C0123ABC', user_roles: { U024BE7LH: 'operator' } },
      secrets: { bot_token: 'xoxb-...' },
    } as never,
  });

const tags = ['integrations'];
const integrationResponses = crudResponses(IntegrationView, 'Not configured through the API');

export const listIntegrations = createRoute({
  method: 'get',
  path: '/v1/integrations',
  tags,
  summary: 'Integrations configured through the API (they override the environment)',
  responses: { 200: jsonResponse(z.object({ items: z.array(IntegrationView) }), 'Configured integrations') },
});

export const getIntegration = createRoute({
  method: 'get',
  path: '/v1/integrations/{kind}',
  tags,
  summary: 'One integration, without its secrets',
  request: { params: KindParam },
  responses: { ...integrationResponses.read('The integration'), 400: problemResponse('Unknown kind') },
});

export const putIntegration = createRoute({
  method: 'put',
  path: '/v1/integrations/{kind}',
  tags,
  summary: 'Configure an integration; secrets are stored and never returned or logged',
  request: { params: KindParam, ...jsonBody(PutIntegrationBody) },
  responses: {
    200: jsonResponse(IntegrationView, 'The integration'),
    400: problemResponse('Unknown kind'),
    422: problemResponse(
      'Invalid settings or secrets, named by field; or an address changed without entering again the secret sent there',
    ),
  },
});

export const deleteIntegration = createRoute({
  method: 'delete',
  path: '/v1/integrations/{kind}',
  tags,
  summary: 'Remove the API configuration (the environment applies again)',
  request: { params: KindParam },
  responses: integrationResponses.remove('Removed'),
});

export const TestResultSchema = z
  .object({
    kind: z.enum(INTEGRATION_KINDS),
    delivered: z.boolean().describe('Whether the destination accepted the test message'),
    outcome: z
      .enum([
        'delivered',
        'not_configured',
        'blocked',
        'rejected',
        'unavailable',
        'timeout',
        'network_error',
        'throttled',
        'unreadable_secret',
        'unsupported',
      ])
      .describe(
        'delivered; not_configured (not configured, disabled, or missing what sending needs); blocked (the outbound ' +
          'guard refused the address, nothing was sent); rejected (the destination refused it: 4xx, or Slack ok:false); ' +
          'unavailable (5xx, 408, 429: a notification would be retried); timeout; network_error; throttled (this ' +
          "process's rate limit or circuit breaker for the kind); unreadable_secret (another SECRETS_KEY sealed it); " +
          'unsupported (the kind has no harmless test message)',
      ),
    status: z.number().int().nullable().describe('HTTP status the destination answered, if it answered'),
    detail: z
      .string()
      .describe("What happened: the destination's error, the guard's reason, the posted message's reference"),
    destination: z
      .string()
      .nullable()
      .describe('Host the message went to (never the URL: it may be a secret)'),
    duration_ms: z.number().int(),
  })
  .openapi('IntegrationTestResult');

export const testIntegration = createRoute({
  method: 'post',
  path: '/v1/integrations/{kind}/test',
  tags,
  summary: "Send a test message through the integration's real outbound path and say what happened",
  description:
    'The message goes the way a real notification of the kind goes (settings, message builder, outbound guard, ' +
    'timeout) and is not remembered as posted. A failure to deliver is an answer (200, delivered: false, with the ' +
    'outcome), not an error of the request. Slack posts a message; the other kinds answer unsupported.',
  request: { params: KindParam },
  responses: {
    200: jsonResponse(TestResultSchema, 'What happened to the test message'),
    400: problemResponse('Unknown kind'),
    503: problemResponse('This process cannot send integration messages'),
  },
});

const JudgeSample = z
  .object({
    request_id: z
      .string()
      .min(1)
      .max(128)
      .describe('The request_id of the llm.request event this text belongs to'),
    target: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,99}$/, 'a target name'),
    segment: z.string().min(1).max(200).default('default'),
    arm: z.string().min(1).max(100).optional(),
    config_version: z.number().int().positive().optional(),
    input: z.string().min(1).max(32_000).describe('What the user asked (the rendered prompt)'),
    output: z.string().max(32_000).describe('What the model answered'),
  })
  .strict();

export const JudgeSamplesBody = z
  .object({ samples: z.array(JudgeSample).min(1).max(1_000) })
  .strict()
  .openapi('JudgeSamples', {
    description:
      'Prompt and answer text of requests, for the LLM judge. Each target keeps the share set by the anthropic ' +
      'integration (settings.judge_sample_rates[target], else judge_default_sample_rate, else JUDGE_DEFAULT_SAMPLE_RATE), ' +
      'chosen by a hash of request_id; the kept text is stored until judged and deleted after JUDGE_SAMPLE_RETENTION_HOURS. ' +
      'The judge runs on a Temporal Schedule and sends an eval.result event per scored request into the ingest pipeline.',
  });

export const submitJudgeSamples = createRoute({
  method: 'post',
  path: '/v1/events/judge-samples',
  tags,
  summary: 'Submit request text for the LLM judge; a sample by the target rate is kept',
  request: jsonBody(JudgeSamplesBody),
  responses: {
    202: jsonResponse(
      z.object({
        received: z.number().int(),
        sampled: z.number().int().describe('Samples kept by the targets’ sampling rates'),
        stored: z
          .number()
          .int()
          .describe('Kept samples that were new (a resubmitted request_id counts once)'),
        rates: z.record(z.string(), z.number()).describe('Sampling rate applied per target'),
      }),
      'Accepted',
    ),
    422: problemResponse('Invalid samples, named by field'),
  },
});
