/** What the gRPC test files share: metadata with a credential, and a valid telemetry event. */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';

/** Call metadata carrying `credential` as a bearer credential, or none. */
export const md = (credential: string | false) => {
  const m = new grpc.Metadata();
  if (credential) m.set('authorization', `Bearer ${credential}`);
  return m;
};

/** The two arms every gRPC test target is created with. */
export const arms = [
  { id: 'big', provider: 'openai', model: 'gpt-4o' },
  { id: 'small', provider: 'openai', model: 'gpt-4o-mini' },
];

/** A valid llm.request event of `target`'s default segment, served by the arm "big". */
export const telemetryEvent = (target: string, extra: Record<string, unknown> = {}) => ({
  type: 'llm.request',
  id: randomUUID(),
  timestamp: new Date().toISOString(),
  target,
  segment: 'default',
  arm: 'big',
  request_id: randomUUID(),
  model: 'gpt-4o',
  provider: 'openai',
  latency_ms: 420,
  input_tokens: 100,
  output_tokens: 50,
  status: 'ok',
  ...extra,
});
