/**
 * GCRA with a cost per request is a token bucket: for any sequence of requests, the in-process limiter
 * (and so the Redis script, which runs the same step) allows exactly what a bucket of `burst` tokens
 * refilled at `rate` per second allows, and names the wait a refused request needs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMemoryGcra, gcraStep } from '../../../adapters/cache/gcra';

describe('GCRA as a token bucket', () => {
  it('allows and refuses exactly as a token bucket, with the exact wait', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 100 }),
        // Steps of whole token intervals keep the reference bucket's arithmetic exact.
        fc.array(
          fc.record({ gap: fc.integer({ min: 0, max: 40 }), cost: fc.integer({ min: 1, max: 120 }) }),
          {
            maxLength: 60,
          },
        ),
        async (rate, burst, requests) => {
          const interval = 1000 / rate;
          let now = 1_000_000;
          const gcra = createMemoryGcra(10, () => now);
          let tokens = burst;
          for (const r of requests) {
            now += r.gap * interval;
            tokens = Math.min(burst, tokens + r.gap);
            const need = Math.min(r.cost, burst);
            const got = await gcra.take('k', { intervalMs: interval, toleranceMs: burst * interval }, need);
            expect(got.allowed).toBe(tokens >= need);
            if (tokens >= need) tokens -= need;
            else expect(got.retryMs).toBeCloseTo((need - tokens) * interval, 6);
          }
        },
      ),
    );
  });

  it('never lets a key run further ahead than its tolerance', () => {
    const limit = { intervalMs: 100, toleranceMs: 1_000 };
    let tat: number | undefined;
    let allowed = 0;
    for (let i = 0; i < 50; i++) {
      const s = gcraStep(tat, 0, limit, 1);
      if (s.allowed) {
        allowed++;
        tat = s.tat;
      }
    }
    expect(allowed).toBe(10);
  });
});
