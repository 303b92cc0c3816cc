/**
 * The request counter and latency histogram of the REST API, with their label children kept: a request
 * does no label hashing. One set per metrics object, shared by the Hono app and the fast path in front of
 * it (api/server.ts), so both count into the same series.
 */
import type { Metrics } from '../../infra/metrics';

export interface RequestInstruments {
  observe(method: string, route: string, status: number, ms: number): void;
  /** The instruments of one route, bound once: a request on it does no string or map work beyond its status. */
  route(method: string, route: string): { observe(status: number, ms: number): void };
}

const INSTRUMENTS = new WeakMap<Metrics, RequestInstruments>();

export function requestInstruments(metrics: Metrics): RequestInstruments {
  const known = INSTRUMENTS.get(metrics);
  if (known) return known;
  const counters = new Map<string, { inc(): void }>();
  const timers = new Map<string, { observe(v: number): void }>();
  const instruments: RequestInstruments = {
    observe(method, route, status, ms) {
      const timerKey = `${method} ${route}`;
      let timer = timers.get(timerKey);
      if (!timer) timers.set(timerKey, (timer = metrics.httpDuration.bind({ method, route })));
      timer.observe(ms / 1000);
      const counterKey = `${timerKey} ${status}`;
      let counter = counters.get(counterKey);
      if (!counter)
        counters.set(counterKey, (counter = metrics.httpRequests.bind({ method, route, status })));
      counter.inc();
    },
    route(method, route) {
      const timer = metrics.httpDuration.bind({ method, route });
      const byStatus = new Map<number, { inc(): void }>();
      return {
        observe(status, ms) {
          timer.observe(ms / 1000);
          let counter = byStatus.get(status);
          if (!counter)
            byStatus.set(status, (counter = metrics.httpRequests.bind({ method, route, status })));
          counter.inc();
        },
      };
    },
  };
  INSTRUMENTS.set(metrics, instruments);
  return instruments;
}
