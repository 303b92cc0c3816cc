/**
 * The embedded pipeline stores each request body once in the write-ahead log (with the indexes it
 * accepted) instead of every event serialized again: replaying that record must give back exactly the
 * events that were acknowledged, at the same offsets, whatever the body's format or its rejected items.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { splitBatch, validateBatch, type BatchFormat } from '../../../pipeline/front';
import { decodeWalRecord, encodeRawBatch } from '../../../pipeline/decoders/wal-batch';
import { Wal } from '../../../pipeline/adapters/wal';

const NOW = Date.parse('2026-11-27T12:00:00Z');
const LIMITS = { maxBatchEvents: 100, maxDecompressedBytes: 1e6, maxFutureSkewMs: 300_000 };
const request = (i: number, extra: Record<string, unknown> = {}) => ({
  type: 'llm.request',
  id: `evt-${i}`,
  timestamp: `2026-11-27T11:59:${String(i % 60).padStart(2, '0')}.000Z`,
  target: 'support-bot',
  request_id: `req-${i}`,
  model: 'claude-3-5-haiku',
  provider: 'anthropic',
  latency_ms: 800 + i,
  input_tokens: 1000,
  output_tokens: 200,
  ...extra,
});
const bodies: Record<string, { text: string; contentType: string; format: BatchFormat }> = {
  'a JSON array': {
    text: JSON.stringify([
      request(1),
      request(2, { latency_ms: -5 }),
      // zod (not the fast path) judges this one: an unknown key, stripped from what is stored.
      request(3, { extra_field: 'dropped' }),
      {
        type: 'user.feedback',
        id: 'fb-1',
        timestamp: '2026-11-27T11:59:30Z',
        target: 'support-bot',
        request_id: 'req-1',
        thumbs: 'up',
      },
      request(1),
      request(5, { timestamp: '2026-11-27T12:30:00Z' }),
    ]),
    contentType: 'application/json',
    format: 'json',
  },
  'an {"events": [...]} object': {
    text: JSON.stringify({ events: [request(7, { segment: 'eu', status: 'error' }), 17, request(8)] }),
    contentType: 'application/json; charset=utf-8',
    format: 'json',
  },
  'NDJSON with a broken line': {
    text: `${JSON.stringify(request(9))}\n{"type": nope\n\n${JSON.stringify(request(10, { ttft_ms: 9 }))}\n`,
    contentType: 'application/x-ndjson',
    format: 'ndjson',
  },
};

describe('write-ahead log batch records', () => {
  for (const [name, body] of Object.entries(bodies)) {
    it(`replays ${name} as exactly the accepted events, in order`, async () => {
      const bytes = Buffer.from(body.text);
      const { items, lineErrors, format } = splitBatch(body.text, body.contentType);
      expect(format).toBe(body.format);
      const outcome = validateBatch(items, NOW, LIMITS, lineErrors);
      expect(outcome.rejected.length).toBeGreaterThan(0);
      const wal = await Wal.open(mkdtempSync(join(tmpdir(), 'llmopt-walb-')), { segmentBytes: 1 << 20 });
      await wal.append([Buffer.from(JSON.stringify(request(0)))]);
      const first = await wal.append([
        {
          payload: encodeRawBatch({ bytes, format, indexes: outcome.indexes }),
          count: outcome.accepted.length,
        },
      ]);
      const replayed: { offset: number; event: unknown; ts: number }[] = [];
      for await (const chunk of wal.read(first))
        for (const r of chunk)
          decodeWalRecord(r).forEach((d, i) => {
            if ('error' in d) throw new Error(d.error);
            if (r.offset + i >= first) replayed.push({ offset: r.offset + i, ...d });
          });
      await wal.close();
      expect(replayed).toEqual(
        outcome.accepted.map((a, i) => ({ offset: first + i, event: a.event, ts: a.ts })),
      );
    });
  }

  it('still reads a single-event record written by earlier versions', () => {
    const event = { ...request(4), segment: 'default', status: 'ok' };
    const [d] = decodeWalRecord({ offset: 3, count: 1, payload: Buffer.from(JSON.stringify(event)) });
    expect(d).toEqual({ event, ts: Date.parse(event.timestamp) });
  });

  it('refuses a batch whose index list does not match the offsets it takes', () => {
    const payload = encodeRawBatch({ bytes: Buffer.from('[{}]'), format: 'json', indexes: [0] });
    expect(() => decodeWalRecord({ offset: 0, count: 2, payload })).toThrow(/not a batch of 2 events/);
  });

  it('skips, with its reason, an accepted event that no longer passes validation', () => {
    const payload = encodeRawBatch({
      bytes: Buffer.from(JSON.stringify([request(1), request(2, { input_tokens: -1 })])),
      format: 'json',
      indexes: [0, 1],
    });
    const out = decodeWalRecord({ offset: 0, count: 2, payload });
    expect('event' in out[0]!).toBe(true);
    expect(out[1]).toEqual({
      error: expect.stringMatching(/^input_tokens: /),
      payload: request(2, { input_tokens: -1 }),
    });
  });
});
