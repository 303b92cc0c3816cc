import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  encodeSketch,
  mergeEncoded,
  newSketch,
  percentilesOf,
  sketchHistogram,
} from '../../../domain/sketch';
import { bins, mergeHistograms, percentiles } from '../../../domain/intelligence/fast-sketch';

const encoded = (values: number[]) => {
  const s = newSketch();
  for (const v of values) s.accept(v);
  return encodeSketch(s);
};

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

  it('an empty merge has no percentiles', () => {
    expect(percentiles(mergeHistograms([null]))).toEqual({ p50: null, p90: null, p95: null, p99: null });
  });
});
