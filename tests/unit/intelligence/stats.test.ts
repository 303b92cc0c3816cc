import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  sampleBeta,
  sampleGamma,
  seededRng,
  normalQuantile,
  chiSquareSf,
} from '../../../domain/stats/distributions';
import {
  chiSquareGof,
  cusum,
  ewmaChart,
  holmAdjust,
  median,
  linearTrend,
  mannWhitneyHistograms,
  robustZ,
  twoProportionZ,
  welchTLess,
} from '../../../domain/stats/tests';

const asBins = (xs: number[]) => xs.map((value) => ({ value, count: 1 }));
const meanVar = (xs: number[]) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { count: xs.length, mean, variance: xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1) };
};

describe('reference values', () => {
  it('Mann-Whitney U matches the R documentation example (Hollander & Wolfe depression data)', () => {
    // R ?wilcox.test: wilcox.test(x, y, alternative = "g") reports W = 35. With exact = FALSE the
    // continuity-corrected normal approximation is z = (35 - 25 - 0.5) / sqrt(10*5*16/12) = 1.1635,
    // upper tail 0.1223 (standard normal table).
    const x = [1.15, 0.88, 0.9, 0.74, 1.21];
    const y = [0.8, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
    const r = mannWhitneyHistograms(asBins(x), asBins(y));
    expect(r.u).toBe(35);
    expect(r.statistic).toBeCloseTo(1.1635, 3);
    expect(r.p_value).toBeCloseTo(0.1223, 3);
  });

  it('Mann-Whitney does not depend on the order of the bins', () => {
    const rng = seededRng(5);
    for (let trial = 0; trial < 20; trial++) {
      const x = Array.from({ length: 30 }, () => ({
        value: Math.round(rng() * 20),
        count: 1 + Math.floor(rng() * 4),
      }));
      const y = Array.from({ length: 25 }, () => ({
        value: Math.round(rng() * 22),
        count: 1 + Math.floor(rng() * 4),
      }));
      const sorted = (b: typeof x) => [...b].sort((p, q) => p.value - q.value);
      const a = mannWhitneyHistograms(x, y);
      const b = mannWhitneyHistograms(sorted(x), sorted(y));
      expect(a.u).toBeCloseTo(b.u, 9);
      expect(a.p_value).toBeCloseTo(b.p_value, 12);
      // Expanded to single observations, the same statistic.
      const expand = (bs: typeof x) =>
        bs.flatMap((q) => Array.from({ length: q.count }, () => ({ value: q.value, count: 1 })));
      expect(mannWhitneyHistograms(expand(x), expand(y)).p_value).toBeCloseTo(a.p_value, 12);
    }
  });

  it('Mann-Whitney ties: binned counts equal the expanded sample', () => {
    // Ties reduce the variance by sum(t^3 - t) / (n (n - 1)) (Hollander & Wolfe eq. 4.15).
    const binned = mannWhitneyHistograms(
      [
        { value: 1, count: 3 },
        { value: 2, count: 2 },
      ],
      [
        { value: 2, count: 2 },
        { value: 3, count: 3 },
      ],
    );
    // x = 1,1,1,2,2; y = 2,2,3,3,3; ranks: 1s -> 2, 2s -> 5.5, 3s -> 9; R_y = 2*5.5 + 3*9 = 38; U = 38 - 15 = 23.
    expect(binned.u).toBe(23);
    // var = 25/12 * (11 - (24 + 60 + 24) / 90) = 20.4167; z = (23 - 12.5 - 0.5) / 4.5185 = 2.2131
    expect(binned.statistic).toBeCloseTo(2.2131, 3);
  });

  it('two-proportion z matches prop.test(c(10, 20), c(100, 100), correct = FALSE)', () => {
    // R: X-squared = 3.9216 (= z^2), two-sided p = 0.04767, so one-sided p = 0.02384.
    const r = twoProportionZ(10, 100, 20, 100);
    expect(r.statistic ** 2).toBeCloseTo(3.9216, 3);
    expect(r.p_value).toBeCloseTo(0.02384, 4);
  });

  it('Welch t matches t.test(extra ~ group, data = sleep) from R', () => {
    // R: t = -1.8608, df = 17.776, two-sided p = 0.07939 -> one-sided "less" p = 0.0397.
    const g1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
    const g2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];
    const r = welchTLess(meanVar(g2), meanVar(g1));
    expect(r.statistic).toBeCloseTo(-1.8608, 3);
    expect(r.df).toBeCloseTo(17.776, 2);
    expect(r.p_value).toBeCloseTo(0.0397, 3);
  });

  it("chi-square goodness of fit matches Mendel's peas (315, 108, 101, 32 against 9:3:3:1)", () => {
    // Textbook value: X^2 = 0.470, df = 3, p = 0.9254.
    const r = chiSquareGof([315, 108, 101, 32], [9, 3, 3, 1]);
    expect(r.statistic).toBeCloseTo(0.47, 2);
    expect(r.df).toBe(3);
    expect(r.p_value).toBeCloseTo(0.9254, 3);
  });

  it('distribution functions match printed tables', () => {
    // Normal table: z_0.975 = 1.959964; chi-square table: P(X > 3.841459; df 1) = 0.05.
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 5);
    expect(chiSquareSf(3.841459, 1)).toBeCloseTo(0.05, 5);
  });

  it('Holm adjustment matches p.adjust(c(.01, .02, .03, .04), "holm")', () => {
    expect(holmAdjust([0.01, 0.02, 0.03, 0.04]).map((p) => +p.toFixed(6))).toEqual([0.04, 0.06, 0.06, 0.06]);
  });
});

describe('robust statistics and drift', () => {
  it('robust z flags the outlier and ignores the bulk', () => {
    // median 10, MAD 1 -> scaled 1.4826; (30 - 10) / 1.4826 = 13.49
    const z = robustZ([9, 10, 11, 10, 9, 11, 10, 30]);
    expect(z[7]).toBeCloseTo(13.49, 2);
    expect(Math.max(...z.slice(0, 7).map(Math.abs))).toBeLessThan(1);
  });

  it('CUSUM detects a one-sigma shift and stays quiet without one', () => {
    const rng = seededRng(7);
    const noise = () => (rng() + rng() + rng() - 1.5) * 2; // sd 1
    const clean = Array.from({ length: 60 }, () => noise());
    expect(cusum(clean, 0, 1).index).toBe(-1);
    const shifted = [...clean.slice(0, 30), ...Array.from({ length: 30 }, () => 1.5 + noise())];
    const r = cusum(shifted, 0, 1);
    expect(r.direction).toBe('up');
    expect(r.index).toBeGreaterThanOrEqual(30);
  });

  it('median, EWMA and CUSUM over the first n values equal them over that prefix', () => {
    const rng = seededRng(3);
    const xs = Float64Array.from({ length: 80 }, () => rng() * 10);
    const prefix = Array.from(xs.subarray(0, 61));
    expect(median(xs, 61)).toBe(median(prefix));
    expect(median(xs, 4)).toBe(
      (prefix.slice(0, 4).sort((a, b) => a - b)[1]! + prefix.slice(0, 4).sort((a, b) => a - b)[2]!) / 2,
    );
    expect(ewmaChart(xs, 5, 1, 0.3, 3, 61)).toEqual(ewmaChart(prefix, 5, 1));
    expect(cusum(xs, 5, 1, 0.5, 5, 61)).toEqual(cusum(prefix, 5, 1, 0.5, 5));
  });

  it('EWMA control limits follow Roberts (1959): L sigma sqrt(lambda/(2-lambda) (1-(1-lambda)^2i))', () => {
    // lambda 0.3, L 3, sigma 1: the limit at i = 1 is 3 * sqrt(0.3/1.7 * 0.51) = 0.9 and tends to
    // 3 * sqrt(0.3/1.7) = 1.2603; a step of 1.0 at the first point is outside, 0.85 is not.
    expect(ewmaChart([1 / 0.3 + 1e-9], 0, 1).out[0]).toBe(true);
    expect(ewmaChart([0.85 / 0.3], 0, 1).out[0]).toBe(false);
    const flat = ewmaChart(
      Array.from({ length: 200 }, () => 4.2),
      0,
      1,
    );
    expect(flat.z.at(-1)).toBeCloseTo(4.2, 9);
    // Another lambda right after uses its own limits: at 0.1 the first limit is 3 * sqrt(0.1/1.9 * 0.19)
    // = 0.3, so z = 0.5 is outside (it would be inside 0.3's limit of 0.9).
    expect(ewmaChart([5], 0, 1, 0.1).out[0]).toBe(true);
  });

  it('linear trend recovers an exact line', () => {
    const r = linearTrend([3, 5, 7, 9, 11.0001]);
    expect(r.slope).toBeCloseTo(2, 3);
    expect(r.p_value).toBeLessThan(1e-6);
  });
});

describe('sampling', () => {
  it('the gamma squeeze lies inside the acceptance region, so it accepts what the log test does (property)', () => {
    // Marsaglia & Tsang (2000): with d = shape - 1/3, c = 1 / sqrt(9d), v = (1 + cx)^3 > 0, a draw is
    // accepted iff log u < x^2/2 + d - dv + d log v. sampleGamma accepts first when u < 1 - 0.0331 x^4;
    // that must imply the log test, or the squeeze would change the draws (and every replay). It does
    // in exact arithmetic; in floating point the log test's right side carries a rounding error of a few
    // d * 2^-52, so only where log u is clear of that (u below 1 - 1e-12 d, all but a 1e-12 d share of
    // the uniform draws) is the computed test reliable, and there the squeeze agrees with it.
    fc.assert(
      fc.property(
        fc.double({ min: 2 / 3, max: 1e5, noNaN: true }),
        fc.double({ min: -8, max: 8, noNaN: true }),
        fc.double({ min: Number.EPSILON, max: 1, noNaN: true }),
        (shape, x, u) => {
          const d = shape - 1 / 3;
          const c = 1 / Math.sqrt(9 * d);
          const v = (1 + c * x) ** 3;
          fc.pre(v > 0 && u < 1 - 0.0331 * x ** 4 && Math.log(u) < -1e-12 * d);
          expect(Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)).toBe(true);
        },
      ),
      { numRuns: 20000 },
    );
  });

  it('gamma draws have the analytic mean and variance across the shape range', () => {
    for (const shape of [0.3, 1, 2.5, 40, 5000]) {
      const rng = seededRng(11);
      const xs = Array.from({ length: 20000 }, () => sampleGamma(shape, rng));
      const m = meanVar(xs);
      // Gamma(k, 1): mean k, variance k; the sample mean's sd is sqrt(k / 20000).
      expect(Math.abs(m.mean - shape)).toBeLessThan(5 * Math.sqrt(shape / 20000));
      expect(m.variance / shape).toBeCloseTo(1, 1);
    }
  });

  it('Beta draws are deterministic for a seed and have the analytic mean', () => {
    const draw = (seed: number) => {
      const rng = seededRng(seed);
      return Array.from({ length: 20000 }, () => sampleBeta(2, 5, rng));
    };
    const a = draw(1);
    expect(draw(1)).toEqual(a);
    // E[Beta(2, 5)] = 2/7 = 0.2857; Var = 10 / (49 * 8) = 0.02551
    const m = meanVar(a);
    expect(m.mean).toBeCloseTo(0.2857, 2);
    expect(m.variance).toBeCloseTo(0.02551, 3);
  });

  it('Holm never lowers a p-value and keeps the order (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 12 }),
        (ps) => {
          const adj = holmAdjust(ps);
          ps.forEach((p, i) => expect(adj[i]!).toBeGreaterThanOrEqual(p));
          ps.forEach((p, i) => ps.forEach((q, j) => p < q && expect(adj[i]!).toBeLessThanOrEqual(adj[j]!)));
        },
      ),
    );
  });

  it('Mann-Whitney is antisymmetric: swapping the samples negates z (property)', () => {
    const bins = fc.array(
      fc.record({ value: fc.integer({ min: 1, max: 20 }), count: fc.integer({ min: 1, max: 5 }) }),
      { minLength: 1, maxLength: 10 },
    );
    fc.assert(
      fc.property(bins, bins, (x, y) => {
        const a = mannWhitneyHistograms(x, y);
        const b = mannWhitneyHistograms(y, x);
        const n1n2 = a.n1 * a.n2;
        expect(a.u + b.u).toBeCloseTo(n1n2, 6);
      }),
    );
  });
});
