/** One dedicated prom-client Registry per process, so tests and libraries never share global state. */
import {
  Registry,
  collectDefaultMetrics,
  Counter,
  type Histogram,
  Gauge,
  type CounterConfiguration,
  type LabelValues,
  type MetricValueWithName,
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

const REGISTERED = new WeakMap<Registry, Map<string, DeferredCounter<string>>>();

/**
 * The deferred counter named `config.name` in `registry`, created there on first use: modules that build
 * one instance per cache or per server share the registry's one counter instead of registering twice.
 */
export function registeredDeferredCounter<L extends string>(
  registry: Registry,
  config: Omit<CounterConfiguration<L>, 'collect' | 'registers'>,
): DeferredCounter<L> {
  let byName = REGISTERED.get(registry);
  if (!byName) REGISTERED.set(registry, (byName = new Map<string, DeferredCounter<string>>()));
  let c = byName.get(config.name) as DeferredCounter<L> | undefined;
  if (!c) {
    c = deferredCounter({ ...config, registers: [registry] });
    byName.set(config.name, c);
  }
  return c;
}

/**
 * A histogram whose series are bound once and observed with a bucket search and three additions. There is
 * no bulk observe in prom-client to defer to, and its own observe validates, hashes and stringifies on
 * every call (about 4 % of the config read's CPU), so this one metric is kept here and handed to the
 * registry as prom-client's own histograms are: `get()` returns the same families (`_bucket` with
 * cumulative `le` counts and `+Inf`, `_sum`, `_count`), which the text exposition and the cluster
 * aggregation (summed) read.
 */
export class BoundHistogram<L extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly labelNames: readonly L[];
  private readonly bounds: readonly number[];
  private readonly series = new Map<string, { labels: Record<L, string>; counts: number[]; sum: number }>();

  constructor(config: {
    name: string;
    help: string;
    labelNames: readonly L[];
    buckets: readonly number[];
    registers: Registry[];
  }) {
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames;
    this.bounds = [...config.buckets].sort((a, b) => a - b);
    for (const r of config.registers) r.registerMetric(this as unknown as Histogram<L>);
  }

  /** The series of `labels`: its observe() is the whole per-request cost. */
  bind(labels: Record<L, string>): { observe(seconds: number): void } {
    const key = this.labelNames.map((l) => labels[l]).join('\u0000');
    let s = this.series.get(key);
    if (!s) {
      // One count per finite bucket, then the +Inf overflow.
      s = { labels: { ...labels }, counts: new Array<number>(this.bounds.length + 1).fill(0), sum: 0 };
      this.series.set(key, s);
    }
    const series = s;
    const bounds = this.bounds;
    return {
      observe(seconds) {
        let i = 0;
        while (i < bounds.length && seconds > bounds[i]!) i++;
        series.counts[i]!++;
        series.sum += seconds;
      },
    };
  }

  get(): Promise<{
    name: string;
    help: string;
    type: 'histogram';
    values: MetricValueWithName<string>[];
    aggregator: 'sum';
  }> {
    const values: MetricValueWithName<string>[] = [];
    const bucket = `${this.name}_bucket`;
    for (const { labels, counts, sum } of this.series.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += counts[i]!;
        values.push({ labels: { le, ...labels }, value: cumulative, metricName: bucket });
      });
      const count = cumulative + counts[this.bounds.length]!;
      values.push({ labels: { le: '+Inf', ...labels }, value: count, metricName: bucket });
      values.push({ labels, value: sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: 'histogram',
      values,
      aggregator: 'sum',
    });
  }

  /** Zeroes every series in place: bound observers keep counting into them. */
  reset(): void {
    for (const s of this.series.values()) {
      s.counts.fill(0);
      s.sum = 0;
    }
  }
}

export interface Metrics {
  registry: Registry;
  httpRequests: DeferredCounter<'method' | 'route' | 'status'>;
  httpDuration: BoundHistogram<'method' | 'route'>;
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
    httpDuration: new BoundHistogram({
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

/** The registry's counter named `name`, created on first use (several ingest fronts may share one). */
function registeredCounter(registry: Registry, name: string, help: string): Counter<'reason'> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<'reason'>;
  return new Counter({ name, help, labelNames: ['reason'], registers: [registry] });
}

/**
 * Ingest refusals and dead letters by reason. Counted once per batch and reason, not per event, so
 * prom-client's own `inc` is cheap enough here; the reasons are fixed sets (pipeline/front.ts
 * INGEST_REFUSALS, pipeline/adapters/store.ts DEAD_LETTER_REASONS), so the label set stays bounded.
 */
export function ingestCounters(registry: Registry) {
  const refused = registeredCounter(
    registry,
    'llmopt_ingest_events_refused_total',
    'Events the ingest front door refused, by reason (answered 4xx/5xx or listed as rejected)',
  );
  const deadLettered = registeredCounter(
    registry,
    'llmopt_ingest_dead_letters_total',
    'Events and messages sent to the ingest dead letters, by reason',
  );
  const accepted = acceptedCounter(registry);
  return {
    accepted: (n: number) => (accepted.pending += n),
    refused: (reason: string, n: number) => refused.inc({ reason }, n),
    deadLettered: (reason: string, n: number) => deadLettered.inc({ reason }, n),
  };
}

/**
 * Events the front door made durable and acknowledged. Added to a plain number on the ingest path and
 * handed to the counter at collection, like the deferred counters: no label work per batch.
 */
function acceptedCounter(registry: Registry): { pending: number } {
  const name = 'llmopt_ingest_events_accepted_total';
  const existing = ACCEPTED.get(registry);
  if (existing) return existing;
  const sum = { pending: 0 };
  new Counter({
    name,
    help: 'Events the ingest front door made durable and acknowledged (202)',
    registers: [registry],
    collect() {
      if (sum.pending === 0) return;
      this.inc(sum.pending);
      sum.pending = 0;
    },
  });
  ACCEPTED.set(registry, sum);
  return sum;
}
const ACCEPTED = new WeakMap<Registry, { pending: number }>();

/** Why a gRPC call was refused at its authentication gate (a fixed set, so the label stays bounded). */
export type GrpcAuthFailure =
  'missing_credentials' | 'invalid_credentials' | 'permission_denied' | 'rate_limited';
/** Why the server ended or refused a gRPC stream (a fixed set). */
export type GrpcStreamEnd =
  | 'credential_revoked'
  | 'credential_expired'
  | 'connection_limit'
  | 'identity_limit'
  | 'health_watchers_limit'
  | 'message_limit'
  | 'byte_limit';

/** gRPC calls refused at authentication, and streams the server ended (revocation, expiry, limits). */
export function grpcCounters(registry: Registry) {
  const [authFailures, streamsEnded] = [
    [
      'llmopt_grpc_auth_failures_total',
      'gRPC calls refused before any work: no or bad credential, missing permission, or too many failures from one address',
    ],
    [
      'llmopt_grpc_streams_ended_total',
      'gRPC streams the server refused or ended: credential revoked or expired mid-stream, or a stream limit reached',
    ],
  ].map(([name, help]) => registeredCounter(registry, name!, help!));
  return {
    authFailure: (reason: GrpcAuthFailure) => authFailures!.inc({ reason }),
    streamEnded: (reason: GrpcStreamEnd) => streamsEnded!.inc({ reason }),
  };
}
