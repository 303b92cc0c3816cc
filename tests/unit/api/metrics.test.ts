/**
 * The request metrics kept outside prom-client's per-call path (platform/metrics.ts) read exactly as
 * prom-client's own would: the bound histogram's exposition is byte-identical to a prom-client Histogram
 * fed the same observations, sums the same across cluster workers, and resets in place; the deferred
 * counter's bulk hand-over equals counting one by one.
 */
import fc from 'fast-check';
import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BoundHistogram, deferredCounter } from '../../../platform/metrics';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const ROUTES = [
  { method: 'GET', route: '/v1/targets/:target/config' },
  { method: 'POST', route: '/v1/events' },
];

function pair() {
  const ours = new Registry();
  const theirs = new Registry();
  const labelNames = ['method', 'route'] as const;
  const bound = new BoundHistogram({ name: 'h', help: 'h', labelNames, buckets: BUCKETS, registers: [ours] });
  const reference = new Histogram({
    name: 'h',
    help: 'h',
    labelNames,
    buckets: BUCKETS,
    registers: [theirs],
  });
  return { ours, theirs, bound, reference };
}

describe('BoundHistogram', () => {
  it('exposes what a prom-client Histogram fed the same observations exposes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.constantFrom(0, 1),
            fc.oneof(fc.constantFrom(...BUCKETS), fc.double({ min: 0, max: 10, noNaN: true })),
          ),
          { maxLength: 200 },
        ),
        async (observations) => {
          const { ours, theirs, bound, reference } = pair();
          // A bound series is exposed from its binding on, at zero: prom-client's zero() does the same.
          const series = ROUTES.map((r) => bound.bind(r));
          for (const r of ROUTES) reference.zero(r);
          for (const [route, seconds] of observations) {
            series[route]!.observe(seconds);
            reference.observe(ROUTES[route]!, seconds);
          }
          expect(await ours.metrics()).toBe(await theirs.metrics());
        },
      ),
      { numRuns: 100 },
    );
  });

  it('sums across cluster workers and resets in place', async () => {
    const { ours, theirs, bound, reference } = pair();
    const get = bound.bind(ROUTES[0]!);
    reference.zero(ROUTES[0]!);
    for (const s of [0.0004, 0.02, 3, 9]) {
      get.observe(s);
      reference.observe(ROUTES[0]!, s);
    }
    const aggregated = AggregatorRegistry.aggregate([
      await ours.getMetricsAsJSON(),
      await ours.getMetricsAsJSON(),
    ]);
    const expected = AggregatorRegistry.aggregate([
      await theirs.getMetricsAsJSON(),
      await theirs.getMetricsAsJSON(),
    ]);
    expect(await aggregated.metrics()).toBe(await expected.metrics());
    expect(await aggregated.metrics()).toContain(
      'h_count{method="GET",route="/v1/targets/:target/config"} 8',
    );

    ours.resetMetrics();
    get.observe(0.003);
    expect(await ours.metrics()).toContain('h_count{method="GET",route="/v1/targets/:target/config"} 1');
    expect(await ours.metrics()).toContain('h_sum{method="GET",route="/v1/targets/:target/config"} 0.003');
  });
});

describe('deferredCounter', () => {
  it('hands over at collection exactly what counting one by one gives', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const config = { name: 'c', help: 'c', labelNames: ['status'] as const };
    const deferred = deferredCounter({ ...config, registers: [ours] });
    const reference = new Counter({ ...config, labelNames: ['status'], registers: [theirs] });
    const ok = deferred.bind({ status: '200' });
    const notModified = deferred.bind({ status: '304' });
    for (let i = 0; i < 7; i++) {
      ok.inc();
      reference.inc({ status: '200' });
    }
    notModified.inc();
    reference.inc({ status: '304' });
    expect(await ours.metrics()).toBe(await theirs.metrics());
    // Collected once, counted once: a second scrape adds nothing.
    ok.inc();
    reference.inc({ status: '200' });
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.metrics()).toContain('c{status="200"} 8');
  });
});
