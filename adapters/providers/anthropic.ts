/**
 * Anthropic's Messages wire format, as the gateway sends it to a provider whose `api` is `anthropic`.
 * The body goes as the client sent it but for `model` (the arm's); the client's `anthropic-version` and
 * `anthropic-beta` headers go with it. Usage comes in the answer's `usage`, or in a stream's
 * `message_start` (input) and `message_delta` (output so far) events.
 */
import { endpointUrl, postJson, type ExchangeOptions, type ProviderEndpoint } from './http';
import type { Usage } from './sse';

/** The version the gateway asks for when the client names none. */
export const DEFAULT_ANTHROPIC_VERSION = '2023-06-01';

/** A Messages request body: only what the gateway reads is typed; the rest passes through. */
export interface MessagesBody {
  model: string;
  messages: unknown[];
  max_tokens: number;
  stream?: boolean | null;
  metadata?: { user_id?: string | null } & Record<string, unknown>;
  [field: string]: unknown;
}

export function messages(
  endpoint: ProviderEndpoint,
  body: MessagesBody,
  model: string,
  opts: ExchangeOptions & { version?: string | undefined; beta?: string | undefined },
) {
  return postJson(
    endpointUrl(endpoint.base_url, 'messages'),
    {
      'anthropic-version': opts.version ?? DEFAULT_ANTHROPIC_VERSION,
      ...(opts.beta ? { 'anthropic-beta': opts.beta } : {}),
      ...(endpoint.api_key ? { 'x-api-key': endpoint.api_key } : {}),
    },
    { ...body, model },
    opts,
  );
}

type RawUsage = { input_tokens?: unknown; output_tokens?: unknown } | undefined;
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

/** `usage` of a message, or of a stream event folded into what came before (a UsageReader). */
export function anthropicUsageOf(value: unknown, sofar?: Usage): Usage | undefined {
  const v = value as { type?: string; usage?: RawUsage; message?: { usage?: RawUsage } } | null;
  const u = v?.type === 'message_start' ? v.message?.usage : v?.usage;
  if (!u) return undefined;
  const input = num(u.input_tokens) ?? sofar?.input_tokens;
  const output = num(u.output_tokens) ?? sofar?.output_tokens;
  if (input === undefined && output === undefined) return undefined;
  return { input_tokens: input ?? 0, output_tokens: output ?? 0 };
}
