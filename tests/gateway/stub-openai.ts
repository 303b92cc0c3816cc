/**
 * A local server speaking OpenAI's Chat Completions wire format, for the gateway's tests and bench: each
 * model answers as its behaviour says (status, latency before the headers, a streamed answer's chunks and
 * their pace), and the server records every call and every stream whose client went away before its end.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listenStub } from './gateway-system';

export interface ModelBehaviour {
  /** Status of the answer (default 200); a non-2xx answers an OpenAI-style error body. */
  status?: number;
  /** Wait before the headers. */
  latencyMs?: number;
  /** Content chunks of a streamed answer (default 3), one every `chunkDelayMs`. */
  chunks?: number;
  chunkDelayMs?: number;
}

export interface StubCall {
  model: string;
  stream: boolean;
  authorization: string | undefined;
  body: Record<string, unknown>;
}

export interface StubOpenAI {
  url: string;
  /** Behaviour per model id; a model not listed answers 200 at once. */
  behaviours: Map<string, ModelBehaviour>;
  calls: StubCall[];
  /** Streams whose client closed the connection before the stream ended. */
  closedEarly: string[];
  close(): Promise<void>;
}

export const PROMPT_TOKENS = 11;
export const COMPLETION_TOKENS = 7;

const usage = { prompt_tokens: PROMPT_TOKENS, completion_tokens: COMPLETION_TOKENS, total_tokens: 18 };

function completion(model: string) {
  return {
    id: 'chatcmpl-stub',
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: `hello from ${model}`, refusal: null },
        finish_reason: 'stop',
        logprobs: null,
      },
    ],
    usage,
  };
}

function chunk(model: string, delta: Record<string, unknown>, finish: string | null = null) {
  return {
    id: 'chatcmpl-stub',
    object: 'chat.completion.chunk',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function stream(
  res: ServerResponse,
  model: string,
  b: ModelBehaviour,
  withUsage: boolean,
  s: StubOpenAI,
) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const send = (data: unknown) => res.write(`data: ${JSON.stringify(data)}\n\n`);
  let ended = false;
  res.on('close', () => {
    if (!ended) s.closedEarly.push(model);
  });
  send(chunk(model, { role: 'assistant', content: '' }));
  for (let i = 0; i < (b.chunks ?? 3); i++) {
    if (res.destroyed) return;
    if (b.chunkDelayMs) await sleep(b.chunkDelayMs);
    send(chunk(model, { content: `part${i} ` }));
  }
  send(chunk(model, {}, 'stop'));
  if (withUsage) send({ ...chunk(model, {}), choices: [], usage });
  ended = true;
  res.end('data: [DONE]\n\n');
}

async function handle(req: IncomingMessage, res: ServerResponse, s: StubOpenAI) {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
  const model = String(body.model);
  const streamed = body.stream === true;
  s.calls.push({ model, stream: streamed, authorization: req.headers.authorization, body });
  const b = s.behaviours.get(model) ?? {};
  if (b.latencyMs) await sleep(b.latencyMs);
  if (res.destroyed) return;
  const status = b.status ?? 200;
  if (status !== 200) {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: `stub ${model} answers ${status}`, type: 'server_error' } }));
    return;
  }
  const withUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
  if (streamed) return stream(res, model, b, withUsage, s);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(completion(model)));
}

export async function startStubOpenAI(): Promise<StubOpenAI> {
  const stub = {
    behaviours: new Map<string, ModelBehaviour>(),
    calls: [] as StubCall[],
    closedEarly: [] as string[],
  } as StubOpenAI;
  const server = await listenStub('/v1/chat/completions', (req, res) => handle(req, res, stub));
  stub.url = server.url;
  stub.close = server.close;
  return stub;
}
