/** One dedicated prom-client Registry per process, so tests and libraries never share global state. */
import { Registry, collectDefaultMetrics, Counter, Histogram, Gauge } from 'prom-client';

export interface Metrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route'>;
  ready: Gauge<'dependency'>;
}

export function createMetrics(processName: string): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ process: processName });
  collectDefaultMetrics({ register: registry, prefix: 'llmopt_' });
  return {
    registry,
    httpRequests: new Counter({
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
