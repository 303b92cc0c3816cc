/**
 * What an event's strings may hold: NUL and lone surrogates are refused at the boundary, naming the
 * field (PostgreSQL can store neither exactly); every other code point is kept exactly. And the fast
 * llm.request validator agrees with the zod schema on generated input, impossible dates included.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkEvent, fastLlmRequest, isStorableText, TelemetryEvent } from '../../../domain/events';
import { EVENT_TEXT_FIELDS } from './event-text-fixtures';

const NOW = Date.parse('2026-11-27T12:00:00Z');
const withField = (event: Record<string, unknown>, field: string, value: string) => ({
  ...event,
  [field]: value,
});

/** Strings with a NUL or a lone surrogate somewhere, within every field's length bound. */
const unstorable = fc
  .tuple(
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff', 'a\u0000', '\ud83d'),
    fc.string({ unit: 'binary', maxLength: 20 }),
  )
  // A high surrogate generated just before a low one would pair with it: keep the bad unit lone.
  .map(([a, bad, b]) => `${a}${bad === '\ud83d' ? `${bad}x` : bad}${b.replace(/^[\udc00-\udfff]/, 'x')}`);

/** Well-formed strings (surrogate pairs, non-characters, controls other than NUL), non-empty. */
const storable = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 40 })
  .map((s) => s.replaceAll('\u0000', '\u0001'))
  .filter((s) => isStorableText(s))
  .chain((s) => fc.constantFrom(s, `${s}\ufffe\uffff`, `\u{10ffff}\ufdd0${s}`));

/** A valid event of some type and one of its string fields. */
const eventField = fc.constantFrom(
  ...EVENT_TEXT_FIELDS.flatMap((t) => t.fields.map((f) => [t.event, f] as const)),
);

describe('event strings', () => {
  it('refuses NUL and lone surrogates in every string field of every type, naming the field', () => {
    fc.assert(
      fc.property(eventField, unstorable, ([event, field], value) => {
        const r = checkEvent(withField(event, field, value), NOW);
        expect(r.ok).toBe(false);
        if (r.ok) return;
        expect(r.reason).toBe('invalid_text');
        expect(r.issues.map((i) => i.path)).toContain(field);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses them in attribute keys and values too', () => {
    const [{ event }] = EVENT_TEXT_FIELDS as [(typeof EVENT_TEXT_FIELDS)[number]];
    const key = checkEvent({ ...event, attributes: { 'a\u0000': 'v' } }, NOW);
    expect(!key.ok && key.reason).toBe('invalid_text');
    const value = checkEvent({ ...event, attributes: { k: 'v\udc00' } }, NOW);
    expect(!value.ok && value.issues[0]).toMatchObject({ path: 'attributes.k' });
  });

  it('keeps every other string exactly, non-characters and astral code points included', () => {
    fc.assert(
      fc.property(eventField, storable, ([event, field], value) => {
        const r = checkEvent(withField(event, field, value), NOW);
        expect(r.ok).toBe(true);
        if (r.ok) expect((r.event as Record<string, unknown>)[field]).toBe(value);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('fast llm.request validator and the zod schema', () => {
  const [{ event: request }] = EVENT_TEXT_FIELDS as [(typeof EVENT_TEXT_FIELDS)[number]];
  const two = (n: number) => String(n).padStart(2, '0');
  /** Timestamps around the edges: days past their month's end, hour 24, second 60, odd offsets. */
  const timestamp = fc
    .record({
      year: fc.integer({ min: 0, max: 9999 }),
      month: fc.integer({ min: 0, max: 13 }),
      day: fc.integer({ min: 0, max: 32 }),
      hour: fc.integer({ min: 0, max: 25 }),
      minute: fc.integer({ min: 0, max: 61 }),
      second: fc.integer({ min: 0, max: 61 }),
      fraction: fc.option(fc.stringMatching(/^\.\d{1,12}$/), { nil: '' }),
      zone: fc.oneof(
        fc.constant('Z'),
        fc
          .tuple(fc.constantFrom('+', '-'), fc.integer({ min: 0, max: 25 }), fc.integer({ min: 0, max: 61 }))
          .map(([s, h, m]) => `${s}${two(h)}:${two(m)}`),
      ),
    })
    .map(
      (t) =>
        `${String(t.year).padStart(4, '0')}-${two(t.month)}-${two(t.day)}T${two(t.hour)}:${two(t.minute)}:${two(t.second)}${t.fraction}${t.zone}`,
    );
  const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 120 }), unstorable, storable);
  const mutation = fc.record(
    {
      timestamp: fc.oneof(timestamp, fc.constantFrom('2026-02-30T00:00:00Z', '2024-02-29T00:00:00Z')),
      request_id: text,
      model: text,
      provider: text,
      error_type: text,
    },
    { requiredKeys: ['timestamp'] },
  );

  it('agree on every generated event: the fast path answers only what zod answers, byte for byte', () => {
    fc.assert(
      fc.property(mutation, (m) => {
        const raw = { ...request, ...m };
        const fast = fastLlmRequest(raw);
        const slow = TelemetryEvent.safeParse(raw);
        if (fast !== undefined) {
          expect(slow.success).toBe(true);
          expect(JSON.stringify(fast)).toBe(JSON.stringify(slow.data));
        }
        // checkEvent, which takes the fast path first, accepts exactly what zod accepts (time bound aside).
        expect(checkEvent(raw, Number.POSITIVE_INFINITY).ok).toBe(slow.success);
      }),
      { numRuns: 5000 },
    );
  });

  it('refuses an impossible date on both paths', () => {
    const raw = { ...request, timestamp: '2026-02-30T10:00:00Z' };
    expect(fastLlmRequest(raw)).toBeUndefined();
    const r = checkEvent(raw, NOW);
    expect(!r.ok && r.issues.map((i) => i.path)).toEqual(['timestamp']);
  });
});
