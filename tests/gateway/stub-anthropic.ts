/**
 * A local server speaking Anthropic's Messages wire format (POST /v1/messages, non-streaming and SSE
 * streaming), for the gateway's tests: each model answers as its behaviour says, and every call is
 * recorded with the headers the gateway sent.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listenStub } from './gateway-system';

export interface AnthropicBehaviour {
  status?: number;
}

export interface StubAnthropic {
  url: string;
  behaviours: Map<string, AnthropicBehaviour>;
  calls: { model: string; stream: boolean; apiKey: string | undefined; version: string | undefined }[];
  close(): Promise<void>;
}

export const INPUT_TOKENS = 13;
export const OUTPUT_TOKENS = 5;

function message(model: string) {
  return {
    id: 'msg_stub',
    type: 'message',
    role: 'assistant',
    model,
    content: [{ type: 'text', text: `hello from ${model}` }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: INPUT_TOKENS, output_tokens: OUTPUT_TOKENS },
  };
}

function stream(res: ServerResponse, model: string) {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const send = (event: string, data: unknown) =>
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  send('message_start', {
    type: 'message_start',
    message: {
      ...message(model),
      content: [],
      stop_reason: null,
      usage: { input_tokens: INPUT_TOKENS, output_tokens: 1 },
    },
  });
  send('content_block_start', {
    type: 'content_block_start',
    index: 0,
    content_block: { type: 'text', text: '' },
  });
  for (const part of ['hello ', 'from ', model])
    send('content_block_delta', {
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'text_delta', text: part },
    });
  send('content_block_stop', { type: 'content_block_stop', index: 0 });
  send('message_delta', {
    type: 'message_delta',
    delta: { stop_reason: 'end_turn', stop_sequence: null },
    usage: { output_tokens: OUTPUT_TOKENS },
  });
  send('message_stop', { type: 'message_stop' });
  res.end();
}

async function handle(req: IncomingMessage, res: ServerResponse, s: StubAnthropic) {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
  const model = String(body.model);
  s.calls.push({
    model,
    stream: body.stream === true,
    apiKey: req.headers['x-api-key'] as string | undefined,
    version: req.headers['anthropic-version'] as string | undefined,
  });
  const status = s.behaviours.get(model)?.status ?? 200;
  if (status !== 200) {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: `stub ${status}` } }),
    );
    return;
  }
  if (body.stream === true) return stream(res, model);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(message(model)));
}

export async function startStubAnthropic(): Promise<StubAnthropic> {
  const stub = { behaviours: new Map(), calls: [] } as unknown as StubAnthropic;
  const server = await listenStub('/v1/messages', (req, res) => handle(req, res, stub));
  stub.url = server.url;
  stub.close = server.close;
  return stub;
}
