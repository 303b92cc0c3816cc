/**
 * Telemetry event validation: precise field paths for bad input, the future-timestamp bound, and the
 * hand-written fast path for llm.request that must never accept what zod rejects nor differ from it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkEvent, fastLlmRequest, TelemetryEvent } from '../../../domain/events';
import { validateBatch } from '../../../pipeline/front';

const NOW = Date.parse('2026-11-27T12:00:00Z');
const good = {
  type: 'llm.request',
  id: 'evt-1',
  timestamp: '2026-11-27T11:59:00.000Z',
  target: 'support-bot',
  arm: 'haiku',
  request_id: 'req-1',
  model: 'claude-3-5-haiku',
  provider: 'anthropic',
  latency_ms: 812.5,
  ttft_ms: 120,
  input_tokens: 1200,
  output_tokens: 300,
};

describe('checkEvent', () => {
  it('accepts a valid event and applies defaults', () => {
    const r = checkEvent(good, NOW);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.event).toMatchObject({ segment: 'default', status: 'ok' });
  });

  it('names each bad field', () => {
    const r = checkEvent({ ...good, latency_ms: -1, output_tokens: 1.5, status: 'exploded' }, NOW);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.map((i) => i.path).sort()).toEqual(['latency_ms', 'output_tokens', 'status']);
  });

  it('rejects unknown types, missing types and timestamps beyond the clock-skew bound', () => {
    const unknown = checkEvent({ ...good, type: 'llm.dream' }, NOW);
    expect(!unknown.ok && unknown.issues[0]).toMatchObject({
      path: 'type',
      message: expect.stringMatching(/unknown event type/),
    });
    const future = checkEvent({ ...good, timestamp: '2026-11-27T12:10:00Z' }, NOW);
    expect(!future.ok && future.issues[0]).toMatchObject({
      path: 'timestamp',
      message: expect.stringMatching(/600 s in the future/),
    });
    const noZone = checkEvent({ ...good, timestamp: '2026-11-27 11:59:00' }, NOW);
    expect(!noZone.ok && noZone.issues[0]?.path).toBe('timestamp');
  });

  it('validates a batch per index, flagging in-batch duplicate ids', () => {
    const out = validateBatch([good, { ...good, id: 'evt-2', input_tokens: -4 }, good], NOW, {
      maxBatchEvents: 10,
      maxDecompressedBytes: 1e6,
      maxFutureSkewMs: 300_000,
    });
    expect(out.accepted).toHaveLength(1);
    expect(out.rejected.map((r) => r.errors.map((e) => e.path))).toEqual([['[1].input_tokens'], ['[2].id']]);
  });
});

describe('fast llm.request path', () => {
  const value = fc.oneof(
    fc.constant(undefined),
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -10, max: 2_000_000_000 }),
    fc.double({ noNaN: false }),
    fc.string({ maxLength: 300 }),
    fc.constantFrom(
      'ok',
      'error',
      'timeout',
      'rate_limited',
      'default',
      'a-b',
      '2026-11-27T11:00:00+01:00',
      'Bad Slug',
    ),
  );
  const keys = [
    'id',
    'timestamp',
    'target',
    'segment',
    'arm',
    'config_version',
    'latency_ms',
    'ttft_ms',
    'input_tokens',
    'output_tokens',
    'cost_usd',
    'status',
    'quality_score',
    'cache_hit',
    'batch_size',
    'error_type',
    'extra',
  ];

  it('never accepts what zod rejects, and returns exactly what zod returns', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...keys), value, { maxKeys: 4 }), (mutation) => {
        const raw: Record<string, unknown> = { ...good, ...mutation };
        for (const [k, v] of Object.entries(mutation)) if (v === undefined) delete raw[k];
        const fast = fastLlmRequest(raw);
        const slow = TelemetryEvent.safeParse(raw);
        if (fast !== undefined) {
          expect(slow.success).toBe(true);
          expect(JSON.stringify(fast)).toBe(JSON.stringify(slow.data));
        }
      }),
      { numRuns: 3000 },
    );
  });
});
