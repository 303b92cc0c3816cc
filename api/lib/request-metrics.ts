/**
 * The request counter and latency histogram of the REST API, with their series bound once: a request
 * does no label hashing. One set per metrics object, shared by the Hono app and the fast path in front of
 * it (api/server.ts), so both count into the same series.
 */
import type { Metrics } from '../../platform/metrics';

interface RouteInstruments {
  observe(status: number, ms: number): void;
}

export interface RequestInstruments {
  observe(method: string, route: string, status: number, ms: number): void;
  /** The instruments of one route, bound once: a request on it does no string or map work beyond its status. */
  route(method: string, route: string): RouteInstruments;
}

const INSTRUMENTS = new WeakMap<Metrics, RequestInstruments>();

export function requestInstruments(metrics: Metrics): RequestInstruments {
  const known = INSTRUMENTS.get(metrics);
  if (known) return known;
  const route = (method: string, route: string): RouteInstruments => {
    const timer = metrics.httpDuration.bind({ method, route });
    const byStatus = new Map<number, { inc(): void }>();
    return {
      observe(status, ms) {
        timer.observe(ms / 1000);
        let counter = byStatus.get(status);
        if (!counter) byStatus.set(status, (counter = metrics.httpRequests.bind({ method, route, status })));
        counter.inc();
      },
    };
  };
  const routes = new Map<string, RouteInstruments>();
  const instruments: RequestInstruments = {
    observe(method, path, status, ms) {
      const key = `${method} ${path}`;
      let bound = routes.get(key);
      if (!bound) routes.set(key, (bound = route(method, path)));
      bound.observe(status, ms);
    },
    route,
  };
  INSTRUMENTS.set(metrics, instruments);
  return instruments;
}
