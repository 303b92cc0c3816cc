import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  encodeSketch,
  mergeEncoded,
  newSketch,
  percentilesOf,
  sketchHistogram,
} from '../../../domain/sketch';
import {
  bins,
  clearSketchCache,
  decodeHistogram,
  mannWhitneySketches,
  mergeHistograms,
  mergeWindowHistograms,
  percentiles,
  windowHistogram,
  type SketchWindow,
} from '../../../domain/intelligence/fast-sketch';
import { mannWhitneyHistograms } from '../../../domain/stats/tests';

const encoded = (values: number[]) => {
  const s = newSketch();
  for (const v of values) s.accept(v);
  return encodeSketch(s);
};

const windowOf = (hour: number, latency_sketch: string | null): SketchWindow => ({
  target: 't',
  segment: 's',
  arm: 'a',
  window_start: new Date(Date.UTC(2026, 0, 1, hour)).toISOString(),
  window_end: new Date(Date.UTC(2026, 0, 1, hour + 1)).toISOString(),
  latency_sketch,
});

describe('fast sketch reader agrees with the DDSketch library', () => {
  it('on merged percentiles and histograms (property)', () => {
    // Latencies are zero or at least a microsecond (the library folds subnormal values into zero).
    const value = fc.oneof(fc.constant(0), fc.double({ min: 1e-3, max: 60000, noNaN: true }));
    const values = fc.array(value, { minLength: 1, maxLength: 100 });
    fc.assert(
      fc.property(fc.array(values, { minLength: 1, maxLength: 4 }), (windows) => {
        const enc = windows.map(encoded);
        const lib = mergeEncoded(enc);
        const fast = mergeHistograms(enc);
        expect(mergeWindowHistograms(enc.map((e, i) => windowOf(i, e)))).toEqual(fast);
        const a = percentilesOf(lib);
        const b = percentiles(fast);
        for (const k of ['p50', 'p90', 'p95', 'p99'] as const) expect(b[k]!).toBeCloseTo(a[k]!, 6);
        const hl = sketchHistogram(lib);
        const hf = bins(fast);
        expect(hf.map((x) => x.count)).toEqual(hl.map((x) => x.count));
        hf.forEach((x, i) => expect(x.value).toBeCloseTo(hl[i]!.value, 6));
      }),
      { numRuns: 100 },
    );
  });

  it('on sketches of every layout decoded one after another: negatives, zeros, wide and narrow (property)', () => {
    // Each sketch's counts may start at another byte offset than the previous one's (the reader aligns
    // the next decode to the last layout it saw), so a run of differently shaped sketches exercises the
    // aligned and the copied paths alike.
    const value = fc.oneof(
      fc.constant(0),
      fc.double({ min: 1e-3, max: 1e7, noNaN: true }),
      fc.double({ min: -1e5, max: -1e-3, noNaN: true }),
    );
    fc.assert(
      fc.property(
        fc.array(fc.array(value, { minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 6 }),
        (sets) => {
          for (const values of sets) {
            const enc = encoded(values);
            const h = decodeHistogram(enc);
            const lib = mergeEncoded([enc]);
            expect(h.count).toBe(lib.count);
            expect(bins(h).map((x) => x.count)).toEqual(sketchHistogram(lib).map((x) => x.count));
            const lb = sketchHistogram(lib);
            // Relative: bucket values reach 1e7 here.
            bins(h).forEach((x, i) =>
              lb[i]!.value === 0 ? expect(x.value).toBe(0) : expect(x.value / lb[i]!.value).toBeCloseTo(1, 9),
            );
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('the rank test on two sketches equals the one on their bins (property)', () => {
    const value = fc.oneof(fc.constant(0), fc.double({ min: 1, max: 5000, noNaN: true }));
    const values = fc.array(value, { minLength: 1, maxLength: 200 });
    fc.assert(
      fc.property(values, values, (x, y) => {
        const hx = decodeHistogram(encoded(x));
        const hy = decodeHistogram(encoded(y));
        expect(mannWhitneySketches(hx, hy)).toEqual(mannWhitneyHistograms(bins(hx), bins(hy)));
      }),
      { numRuns: 100 },
    );
  });

  it('an empty merge has no percentiles', () => {
    expect(percentiles(mergeHistograms([null]))).toEqual({ p50: null, p90: null, p95: null, p99: null });
  });
});

describe('decoded sketches cached by window', () => {
  it('a reloaded row with the same sketch hits the cache; a changed sketch is decoded again', () => {
    clearSketchCache();
    const first = encoded([100, 200, 300]);
    const h = windowHistogram(windowOf(0, first));
    // The same text in a new string, as a later cycle loads the row again.
    const reloaded = JSON.parse(JSON.stringify(first)) as string;
    expect(windowHistogram(windowOf(0, reloaded))).toBe(h);
    // The window was still open: more requests arrived, so its sketch changed.
    const grown = encoded([100, 200, 300, 5000]);
    const h2 = windowHistogram(windowOf(0, grown))!;
    expect(h2).not.toBe(h);
    expect(h2.count).toBe(4);
    expect(percentiles(h2)).toEqual(percentiles(decodeHistogram(grown)));
    // Another window with the same text as the first decodes to equal counts under its own key.
    expect(windowHistogram(windowOf(1, first))).toEqual(h);
    expect(windowHistogram(windowOf(2, null))).toBeNull();
  });

  it('stays bounded: the least recently used groups of windows are dropped first', () => {
    clearSketchCache();
    const sketch = encoded([100]);
    const win = (arm: string, hour: number): SketchWindow => ({ ...windowOf(hour, sketch), arm });
    // 20,000 windows (the bound) in 400 groups of 50, then the first group read again (now most recent).
    const firsts = Array.from({ length: 400 }, (_, g) => windowHistogram(win(`arm-${g}`, 0)));
    for (let g = 0; g < 400; g++)
      for (let hour = 1; hour < 50; hour++) windowHistogram(win(`arm-${g}`, hour));
    expect(windowHistogram(win('arm-0', 0))).toBe(firsts[0]);
    // One more window evicts the least recently used group (arm-1), not arm-0.
    windowHistogram(win('arm-new', 0));
    expect(windowHistogram(win('arm-0', 0))).toBe(firsts[0]);
    expect(windowHistogram(win('arm-1', 0))).not.toBe(firsts[1]);
    expect(windowHistogram(win('arm-1', 0))).toEqual(firsts[1]);
  });

  it('histograms decoded into shared slabs stay intact as more are decoded', () => {
    clearSketchCache();
    // Wide sketches (about 1,000 buckets each) so a few hundred span several slabs.
    const sets = Array.from({ length: 300 }, (_, i) =>
      Array.from({ length: 50 }, (_, j) => (1 + i) * Math.exp((j / 49) * 20 * Math.log(1.02) * 50)),
    );
    const hs = sets.map((v, i) => windowHistogram(windowOf(i, encoded(v)))!);
    hs.forEach((h, i) => {
      const lib = newSketch();
      for (const v of sets[i]!) lib.accept(v);
      const a = percentilesOf(lib);
      const b = percentiles(h);
      for (const k of ['p50', 'p90', 'p95', 'p99'] as const) expect(b[k]! / a[k]!).toBeCloseTo(1, 9);
      expect(bins(h).map((x) => x.count)).toEqual(sketchHistogram(lib).map((x) => x.count));
    });
  });
});
