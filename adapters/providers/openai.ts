/**
 * OpenAI's Chat Completions wire format, as the gateway sends it to a provider whose `api` is `openai`
 * (OpenAI itself, or any server speaking its format: vLLM, Ollama, Azure-compatible proxies). The body
 * goes as the client sent it but for `model` (the arm's) and, when streaming, `stream_options` asking for
 * `usage` in the last chunk, which telemetry needs.
 */
import { endpointUrl, postJson, type ExchangeOptions, type ProviderEndpoint } from './http';
import type { Usage } from './sse';

/** A Chat Completions request body: only what the gateway reads is typed; the rest passes through. */
export interface ChatCompletionsBody {
  model: string;
  messages: unknown[];
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } & Record<string, unknown>;
  user?: string;
  [field: string]: unknown;
}

export function chatCompletions(
  endpoint: ProviderEndpoint,
  body: ChatCompletionsBody,
  model: string,
  opts: ExchangeOptions,
) {
  const upstream: ChatCompletionsBody = { ...body, model };
  if (body.stream) upstream.stream_options = { ...body.stream_options, include_usage: true };
  return postJson(
    endpointUrl(endpoint.base_url, 'chat/completions'),
    endpoint.api_key ? { authorization: `Bearer ${endpoint.api_key}` } : {},
    upstream,
    opts,
  );
}

/** `usage` of a completion or of a stream's last chunk, when it carries one (a UsageReader too). */
export function usageOf(value: unknown): Usage | undefined {
  const u = (value as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } } | null)?.usage;
  if (!u || typeof u.prompt_tokens !== 'number' || typeof u.completion_tokens !== 'number') return undefined;
  return { input_tokens: u.prompt_tokens, output_tokens: u.completion_tokens };
}
