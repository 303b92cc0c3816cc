/**
 * Hypothesis tests the judge, the strategies and the analyzers decide with. Each returns its statistic
 * and p-value so a decision can show its numbers.
 */
import { chiSquareSf, normalCdf, normalQuantile, studentTSf } from './distributions';

export interface TestResult {
  statistic: number;
  p_value: number;
}

/** A histogram bin: a representative value and how many observations fell in it. */
export interface Bin {
  value: number;
  count: number;
}

/** The bins in ascending value order: the same array when it is already. */
function ascending(bins: readonly Bin[]): readonly Bin[] {
  for (let i = 1; i < bins.length; i++)
    if (bins[i]!.value < bins[i - 1]!.value) return [...bins].sort((a, b) => a.value - b.value);
  return bins;
}

/**
 * One-sided Mann-Whitney U from two histograms (e.g. merged DDSketch buckets), testing whether `y`
 * tends to be larger than `x`. Values sharing a bin are ties; normal approximation with tie and
 * continuity corrections, which is what R's `wilcox.test(exact = FALSE)` computes.
 */
export function mannWhitneyHistograms(
  x: readonly Bin[],
  y: readonly Bin[],
): TestResult & { u: number; n1: number; n2: number } {
  const xs = ascending(x);
  const ys = ascending(y);
  return mannWhitneyColumns(
    xs.map((b) => b.value),
    xs.map((b) => b.count),
    xs.length,
    ys.map((b) => b.value),
    ys.map((b) => b.count),
    ys.length,
  );
}

/**
 * `mannWhitneyHistograms` over histograms given as columns: the first `nx` (value, count) pairs of
 * `xv`/`xc` and `ny` of `yv`/`yc`, each in ascending value order. Callers holding sketches fill reused
 * typed arrays rather than building a bin object per bucket.
 */
export function mannWhitneyColumns(
  xv: ArrayLike<number>,
  xc: ArrayLike<number>,
  nx: number,
  yv: ArrayLike<number>,
  yc: ArrayLike<number>,
  ny: number,
): TestResult & { u: number; n1: number; n2: number } {
  // A merge walk over both histograms in ascending value order; equal values from both sides form one
  // tie group.
  let n1 = 0;
  let n2 = 0;
  for (let k = 0; k < nx; k++) if (xc[k]! > 0) n1 += xc[k]!;
  for (let k = 0; k < ny; k++) if (yc[k]! > 0) n2 += yc[k]!;
  const n = n1 + n2;
  if (n1 === 0 || n2 === 0) return { statistic: 0, p_value: 1, u: 0, n1, n2 };
  let below = 0;
  let rankSumY = 0;
  let tieTerm = 0;
  let i = 0;
  let j = 0;
  while (i < nx || j < ny) {
    const v = Math.min(i < nx ? xv[i]! : Infinity, j < ny ? yv[j]! : Infinity);
    if (Number.isNaN(v)) {
      // No rank for a missing value: skip it.
      if (i < nx && Number.isNaN(xv[i]!)) i++;
      if (j < ny && Number.isNaN(yv[j]!)) j++;
      continue;
    }
    let cx = 0;
    let cy = 0;
    while (i < nx && xv[i]! === v) cx += Math.max(0, xc[i++]!);
    while (j < ny && yv[j]! === v) cy += Math.max(0, yc[j++]!);
    const t = cx + cy;
    if (t === 0) continue;
    rankSumY += cy * (below + (t + 1) / 2);
    tieTerm += t * t * t - t;
    below += t;
  }
  const u = rankSumY - (n2 * (n2 + 1)) / 2;
  const mean = (n1 * n2) / 2;
  const varU = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  if (varU <= 0) return { statistic: 0, p_value: 1, u, n1, n2 };
  const z = (u - mean - 0.5) / Math.sqrt(varU);
  return { statistic: z, p_value: 1 - normalCdf(z), u, n1, n2 };
}

/**
 * One-sided two-proportion z-test (pooled variance) that the second proportion is larger:
 * `prop.test(correct = FALSE, alternative = "less")` in R.
 */
export function twoProportionZ(
  x1: number,
  n1: number,
  x2: number,
  n2: number,
): TestResult & { diff: number } {
  if (n1 === 0 || n2 === 0) return { statistic: 0, p_value: 1, diff: 0 };
  const p1 = x1 / n1;
  const p2 = x2 / n2;
  const p = (x1 + x2) / (n1 + n2);
  const se = Math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2));
  if (se === 0) return { statistic: 0, p_value: 1, diff: p2 - p1 };
  const z = (p2 - p1) / se;
  return { statistic: z, p_value: 1 - normalCdf(z), diff: p2 - p1 };
}

export interface MeanVar {
  count: number;
  mean: number;
  /** Sample variance. */
  variance: number;
}

/**
 * One-sided Welch t-test that `b` has a smaller mean than `a` (`t.test(b, a, alternative = "less")`),
 * with Welch-Satterthwaite degrees of freedom.
 */
export function welchTLess(a: MeanVar, b: MeanVar): TestResult & { df: number; diff: number; se: number } {
  const diff = b.mean - a.mean;
  if (a.count < 2 || b.count < 2) return { statistic: 0, p_value: 1, df: 0, diff, se: Infinity };
  const va = a.variance / a.count;
  const vb = b.variance / b.count;
  const se = Math.sqrt(va + vb);
  if (se === 0) return { statistic: 0, p_value: diff < 0 ? 0 : 1, df: Infinity, diff, se };
  const df = (va + vb) ** 2 / (va ** 2 / (a.count - 1) + vb ** 2 / (b.count - 1));
  const t = diff / se;
  return { statistic: t, p_value: 1 - studentTSf(t, df), df, diff, se };
}

/** Pearson chi-square goodness of fit of observed counts against expected shares (`chisq.test(x, p = p)`). */
export function chiSquareGof(
  observed: readonly number[],
  shares: readonly number[],
): TestResult & { df: number } {
  const total = observed.reduce((a, b) => a + b, 0);
  const shareTotal = shares.reduce((a, b) => a + b, 0);
  let stat = 0;
  let df = -1;
  observed.forEach((o, i) => {
    const e = (total * (shares[i] ?? 0)) / shareTotal;
    if (e > 0) {
      stat += (o - e) ** 2 / e;
      df++;
    } else if (o > 0) stat = Infinity;
  });
  if (df < 1 || total === 0) return { statistic: 0, p_value: 1, df: Math.max(df, 0) };
  return { statistic: stat, p_value: chiSquareSf(stat, df), df };
}

/** Holm-Bonferroni adjusted p-values (`p.adjust(p, "holm")`), in the input order. */
export function holmAdjust(pValues: readonly number[]): number[] {
  const m = pValues.length;
  const order = pValues.map((p, i) => [p, i] as const).sort((a, b) => a[0] - b[0]);
  const adjusted = new Array<number>(m).fill(1);
  let running = 0;
  order.forEach(([p, i], k) => {
    running = Math.max(running, Math.min(1, (m - k) * p));
    adjusted[i] = running;
  });
  return adjusted;
}

/** Two-sided normal-approximation confidence interval of a mean. */
export function meanInterval(m: MeanVar, level = 0.95): { low: number; high: number } {
  if (m.count < 2) return { low: -Infinity, high: Infinity };
  const h = normalQuantile(1 - (1 - level) / 2) * Math.sqrt(m.variance / m.count);
  return { low: m.mean - h, high: m.mean + h };
}

/**
 * Mixture sequential probability ratio (Johari, Pekelis & Walsh 2017, "Always valid inference") for a
 * difference of means with a normal mixing distribution N(0, tau^2). `v` is the variance of the
 * difference estimate. The returned p-value is valid at any stopping time when taken as the running
 * minimum over looks.
 */
export function msprt(diff: number, v: number, tau2: number): { lambda: number; p_value: number } {
  if (!(v > 0)) return { lambda: 1, p_value: 1 };
  const lambda = Math.sqrt(v / (v + tau2)) * Math.exp((tau2 * diff * diff) / (2 * v * (v + tau2)));
  return { lambda, p_value: Math.min(1, 1 / lambda) };
}

/**
 * Scratch space for `median`: a typed array sorts numerically without a comparator callback, but each
 * new one of more than a few elements allocates its own backing store, which cost more than the sort
 * when the anomaly analyzer takes hundreds of medians a cycle.
 */
let medianScratch = new Float64Array(256);

/** Median of the first `n` values (all by default) of a non-empty array. */
export function median(xs: ArrayLike<number>, n = xs.length): number {
  if (n > medianScratch.length) medianScratch = new Float64Array(2 * n);
  const s = medianScratch.subarray(0, n);
  for (let i = 0; i < n; i++) s[i] = xs[i]!;
  s.sort();
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Robust z-scores: (x - median) / (1.4826 * MAD); MAD scaled to the normal's sigma. */
export function robustZ(xs: readonly number[]): number[] {
  if (xs.length === 0) return [];
  const med = median(xs);
  const mad = 1.4826 * median(xs.map((x) => Math.abs(x - med)));
  if (mad === 0) return xs.map((x) => (x === med ? 0 : Math.sign(x - med) * Infinity));
  return xs.map((x) => (x - med) / mad);
}

/**
 * EWMA control chart (Roberts 1959): the smoothed series and whether each point is outside
 * mu0 +/- L * sigma * sqrt(lambda / (2 - lambda) * (1 - (1 - lambda)^(2i))).
 */
export function ewmaChart(
  xs: ArrayLike<number>,
  mu0: number,
  sigma: number,
  lambda = 0.3,
  l = 3,
  n = xs.length,
): { z: number[]; out: boolean[] } {
  let z = mu0;
  const zs = new Array<number>(n);
  const out = new Array<boolean>(n);
  const limits = ewmaLimits(lambda, n);
  for (let i = 0; i < n; i++) {
    z = lambda * xs[i]! + (1 - lambda) * z;
    const width = l * sigma * limits[i]!;
    zs[i] = z;
    out[i] = Math.abs(z - mu0) > width;
  }
  return { z: zs, out };
}

/**
 * sqrt(lambda / (2 - lambda) * (1 - (1 - lambda)^(2i))) for i = 1..n, computed once per lambda: the
 * anomaly analyzer charts hundreds of series of the same length each cycle.
 */
let ewmaTable = { lambda: NaN, values: new Float64Array(0) };

function ewmaLimits(lambda: number, n: number): Float64Array {
  if (ewmaTable.lambda !== lambda || ewmaTable.values.length < n) {
    const values = new Float64Array(Math.max(n, 2 * ewmaTable.values.length, 64));
    for (let i = 0; i < values.length; i++)
      values[i] = Math.sqrt((lambda / (2 - lambda)) * (1 - (1 - lambda) ** (2 * (i + 1))));
    ewmaTable = { lambda, values };
  }
  return ewmaTable.values;
}

/**
 * Two-sided tabular CUSUM (Page 1954) on standardized values with slack k and decision interval h
 * (in sigmas; k = 0.5, h = 5 gives an in-control ARL of about 465, Montgomery table 9.4).
 * Returns the first index where either side crosses h, or -1.
 */
export function cusum(
  xs: ArrayLike<number>,
  mu0: number,
  sigma: number,
  k = 0.5,
  h = 5,
  n = xs.length,
): { index: number; direction: 'up' | 'down' | null } {
  let hi = 0;
  let lo = 0;
  for (let i = 0; i < n; i++) {
    const s = sigma > 0 ? (xs[i]! - mu0) / sigma : 0;
    hi = Math.max(0, hi + s - k);
    lo = Math.max(0, lo - s - k);
    if (hi > h) return { index: i, direction: 'up' };
    if (lo > h) return { index: i, direction: 'down' };
  }
  return { index: -1, direction: null };
}

/** Ordinary least squares of y on x: slope, intercept, slope's standard error and two-sided p-value. */
export function linearTrend(y: readonly number[]): {
  slope: number;
  intercept: number;
  se: number;
  p_value: number;
} {
  const n = y.length;
  if (n < 3) return { slope: 0, intercept: y[0] ?? 0, se: Infinity, p_value: 1 };
  const mx = (n - 1) / 2;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  y.forEach((v, i) => {
    sxx += (i - mx) ** 2;
    sxy += (i - mx) * (v - my);
  });
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  const sse = y.reduce((a, v, i) => a + (v - intercept - slope * i) ** 2, 0);
  const se = Math.sqrt(sse / (n - 2) / sxx);
  if (se === 0) return { slope, intercept, se, p_value: slope === 0 ? 1 : 0 };
  const t = Math.abs(slope / se);
  return { slope, intercept, se, p_value: 2 * studentTSf(t, n - 2) };
}
