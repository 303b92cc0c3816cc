/** One dedicated prom-client Registry per process, so tests and libraries never share global state. */
import {
  Registry,
  collectDefaultMetrics,
  Counter,
  Histogram,
  Gauge,
  type CounterConfiguration,
  type LabelValues,
} from 'prom-client';

/**
 * A prom-client counter whose hot increments are plain additions: `bind(labels)` gives a child whose
 * `inc()` adds to a number, and every collection (a scrape, a cluster aggregation) first hands the
 * sums to the counter with its own bulk `inc(labels, n)`. prom-client validates and hashes the labels on
 * every call, even through a child, which costs more than the hottest read's own work.
 */
export interface DeferredCounter<L extends string> {
  counter: Counter<L>;
  bind(labels: LabelValues<L>): { inc(): void };
}

export function deferredCounter<L extends string>(
  config: Omit<CounterConfiguration<L>, 'collect'>,
): DeferredCounter<L> {
  const bound: { labels: LabelValues<L>; n: number }[] = [];
  const counter = new Counter<L>({
    ...config,
    collect() {
      for (const b of bound) {
        if (b.n === 0) continue;
        this.inc(b.labels, b.n);
        b.n = 0;
      }
    },
  });
  return {
    counter,
    bind(labels) {
      const b = { labels, n: 0 };
      bound.push(b);
      return {
        inc: () => {
          b.n++;
        },
      };
    },
  };
}

export interface Metrics {
  registry: Registry;
  httpRequests: DeferredCounter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route'>;
  ready: Gauge<'dependency'>;
}

export function createMetrics(processName: string): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ process: processName });
  collectDefaultMetrics({ register: registry, prefix: 'llmopt_' });
  return {
    registry,
    httpRequests: deferredCounter({
      name: 'llmopt_http_requests_total',
      help: 'HTTP requests answered, by route template and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'llmopt_http_request_duration_seconds',
      help: 'HTTP request duration by route template',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    ready: new Gauge({
      name: 'llmopt_dependency_ready',
      help: '1 when the dependency answered its last readiness check',
      labelNames: ['dependency'],
      registers: [registry],
    }),
  };
}
