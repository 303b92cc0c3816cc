/** Events the data-plane tests send: valid, with ids unique to the caller's target. */
import type { TelemetryEvent } from '../../../domain/events';

/** `n` system.health events (validated and counted, no aggregates): a batch that only costs its size. */
export const healthBatch = (target: string, n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({
    type: 'system.health',
    id: `${target}-${from + i}`,
    timestamp: new Date().toISOString(),
    target,
    component: 'router',
    status: 'ok',
  }));

/** One ok `llm.request` of 10 + 5 tokens at `ts`; `over` replaces any field. */
export const llmRequest = (
  target: string,
  n: number,
  ts: number,
  over: Partial<Record<string, unknown>> = {},
): TelemetryEvent => ({
  type: 'llm.request',
  id: `${target}-${n}`,
  timestamp: new Date(ts).toISOString(),
  target,
  segment: 'default',
  arm: 'a1',
  request_id: `${target}-r${n}`,
  model: 'gpt-4o',
  provider: 'openai',
  latency_ms: 100,
  input_tokens: 10,
  output_tokens: 5,
  cost_usd: 0.001,
  status: 'ok',
  ...over,
});

/** A thumbs-up `user.feedback` (no arm: the join decides it) for request `n` of llmRequest, at `ts`. */
export const userFeedback = (target: string, n: number, ts: number): TelemetryEvent => ({
  type: 'user.feedback',
  id: `${target}-fb-${n}`,
  timestamp: new Date(ts).toISOString(),
  target,
  segment: 'default',
  request_id: `${target}-r${n}`,
  thumbs: 'up',
});
