/** Synthetic windows for the intelligence tests, built the way the stream process builds them. */
import { buildAggregate, type RequestOutcome } from '../../../domain/intelligence/build-aggregate';
import { sampleNormal, seededRng, type Rng } from '../../../domain/stats/distributions';
import type { WindowAggregate } from '../../../domain/aggregate';
import type { Arm } from '../../../domain/model';

export interface Truth {
  quality: number;
  cost: number;
  medianMs: number;
  errorRate: number;
}

export const HOUR = 3_600_000;
export const T0 = Date.parse('2026-03-01T00:00:00.000Z');
export const at = (w: number) => new Date(T0 + w * HOUR).toISOString();

export function requestsOf(t: Truth, n: number, rng: Rng): RequestOutcome[] {
  return Array.from({ length: n }, () => {
    const failed = rng() < t.errorRate;
    return {
      latency_ms: t.medianMs * Math.exp(0.3 * sampleNormal(rng)),
      status: failed ? 'error' : 'ok',
      cost_usd: t.cost * (0.9 + 0.2 * rng()),
      quality: failed ? undefined : rng() < t.quality ? 1 : 0,
    } satisfies RequestOutcome;
  });
}

/** Hourly windows of one arm; `truthAt(w)` lets a test inject a change from some window on. */
export function series(
  segment: string,
  arm: string,
  windows: number,
  perWindow: number,
  truthAt: (w: number) => Truth,
  seed: number,
): WindowAggregate[] {
  const rng = seededRng(seed);
  return Array.from({ length: windows }, (_, w) =>
    buildAggregate(
      { target: 'support-bot', segment, arm, window_start: at(w), window_end: at(w + 1) },
      requestsOf(truthAt(w), perWindow, rng),
    ),
  );
}

export const arm = (id: string): Arm => ({
  id,
  provider: 'test',
  model: id,
  prompt_template: 'default',
  prompt_version: 1,
  params: {},
  serving: {},
});
