/**
 * The gateway's door in OpenAI's wire format. Errors are problem+json as everywhere in this API, with
 * OpenAI's `error` member beside, so the official clients raise their usual errors with our message.
 */
import type { Context } from 'hono';
import { AppError, ERROR_TYPES } from '../../../domain/errors';
import { UpstreamFailed, type GatewayService } from '../../../app/gateway';
import { callerOf } from '../../lib/caller';
import { problemBody } from '../../lib/problem';
import type { AppBindings } from '../../lib/types';

/** OpenAI's error `type` for a status, so clients map it as they map OpenAI's own. */
function openaiType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

function errorAnswer(c: Context<AppBindings>, err: unknown): Response {
  let status: number;
  let body: Record<string, unknown>;
  const headers: Record<string, string> = { 'content-type': 'application/problem+json' };
  if (err instanceof UpstreamFailed) {
    status = err.status;
    Object.assign(headers, err.headers);
    body = {
      type: 'https://llm-auto-optimizer.dev/problems/upstream-failed',
      title: status === 504 ? 'Gateway Timeout' : status === 429 ? 'Too Many Requests' : 'Bad Gateway',
      status,
      detail: err.message,
    };
  } else if (err instanceof AppError) {
    status = ERROR_TYPES[err.type];
    const { issues, retryAfterSeconds, ...rest } = err.details;
    body = problemBody(err.type, err.message, { ...rest, ...(issues ? { errors: issues } : {}) });
    if (retryAfterSeconds) headers['retry-after'] = String(Math.ceil(retryAfterSeconds));
  } else throw err;
  const code = typeof body.code === 'string' ? body.code : null;
  const param = Array.isArray(body.errors) ? ((body.errors[0] as { path?: string }).path ?? null) : null;
  return new Response(
    JSON.stringify({
      ...body,
      instance: c.req.path,
      request_id: c.get('requestId'),
      error: { message: body.detail, type: openaiType(status), param, code },
    }),
    { status, headers },
  );
}

const positiveInt = (v: string | undefined): number | undefined => {
  const n = v === undefined ? NaN : Number(v);
  return Number.isInteger(n) && n > 0 ? n : undefined;
};

/** Reads the body and the gateway's headers, calls the gateway, answers its answer or its error. */
async function answer(
  c: Context<AppBindings>,
  what: string,
  invoke: GatewayService['chat'],
): Promise<Response> {
  const arrivedAt = performance.now();
  try {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw new AppError('bad_request', `the body is not JSON (${what})`);
    }
    const result = await invoke({
      caller: callerOf(c),
      body,
      user: c.req.header('x-llmopt-user'),
      timeoutMs: positiveInt(c.req.header('x-llmopt-timeout-ms')),
      anthropicVersion: c.req.header('anthropic-version'),
      anthropicBeta: c.req.header('anthropic-beta'),
      signal: c.req.raw.signal,
      arrivedAt,
    });
    return new Response(result.body, { status: result.status, headers: result.headers });
  } catch (err) {
    return errorAnswer(c, err);
  }
}

export function gatewayHandlers(gateway: GatewayService) {
  return {
    async models(c: Context<AppBindings>): Promise<Response> {
      try {
        return c.json(await gateway.models(), 200);
      } catch (err) {
        return errorAnswer(c, err);
      }
    },

    chatCompletions: (c: Context<AppBindings>) =>
      answer(c, 'an OpenAI Chat Completions request', gateway.chat),
    messages: (c: Context<AppBindings>) => answer(c, 'an Anthropic Messages request', gateway.messages),
  };
}
