/**
 * The metrics of each stage of the system, past the HTTP layer (platform/metrics.ts): the data plane's
 * shards, optimization cycles, decisions, rollouts, stage verdicts, rollbacks, health-watch checks and the
 * gateway. Defined once here, each group registered on a process's own registry on first use,
 * so the dashboards and alert rules (infra/deploy/grafana, infra/deploy/prometheus) name one spelling.
 *
 * Every label has a bounded set of values: fixed enumerations (outcome, status, kind, trigger), the
 * shards and partitions of the process, or the configured targets and arms.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Seconds buckets for work that takes from milliseconds to about a minute. */
const SHORT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Seconds buckets for runs that take seconds to hours (cycles, rollbacks after a bake). */
const LONG_BUCKETS = [1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200];

/**
 * One memoized set of metrics per registry: a process registers a group on its first use, so each
 * process exposes the groups of the stages it runs (the shards where a pipeline runs, the flow's outcomes
 * in the Temporal workers, the gateway's calls in the API).
 */
function memoized<T>(create: (registers: Registry[]) => T): (registry: Registry) => T {
  const byRegistry = new WeakMap<Registry, T>();
  return (registry) => {
    let m = byRegistry.get(registry);
    if (!m) byRegistry.set(registry, (m = create([registry])));
    return m;
  };
}

/** The data plane: each shard's claims and commits, and the Kafka consumer's lag. */
export const streamMetrics = memoized((registers) => ({
  epochChanges: new Counter({
    name: 'llmopt_stream_shard_epoch_changes_total',
    help: 'Shards this process claimed (each claim raises the shard epoch and fences the previous owner)',
    labelNames: ['shard'],
    registers,
  }),
  commitSeconds: new Histogram({
    name: 'llmopt_stream_window_commit_duration_seconds',
    help: 'Time a shard took to commit its changed windows with its checkpoint (successful commits)',
    labelNames: ['shard'],
    buckets: SHORT_BUCKETS,
    registers,
  }),
  commitFailures: new Counter({
    name: 'llmopt_stream_window_commit_failures_total',
    help: 'Shard commits that failed (retried on the next flush)',
    labelNames: ['shard'],
    registers,
  }),
  watermarkDelay: new Gauge({
    name: 'llmopt_stream_watermark_delay_seconds',
    help: "Wall-clock time minus the shard's event-time watermark, at its last commit",
    labelNames: ['shard'],
    registers,
  }),
  consumerLag: new Gauge({
    name: 'llmopt_stream_consumer_lag_messages',
    help: "Messages in the partition past the shard's next offset, at its last batch (Kafka mode)",
    labelNames: ['partition'],
    registers,
  }),
  counted: new Counter({
    name: 'llmopt_ingest_events_counted_total',
    help: 'Events a shard counted into windows (committed)',
    registers,
  }),
  deduplicated: new Counter({
    name: 'llmopt_ingest_events_deduplicated_total',
    help: 'Events a shard recognised as already counted (resent or redelivered) and skipped (committed)',
    registers,
  }),
  late: new Counter({
    name: 'llmopt_ingest_events_late_total',
    help: 'Events behind the watermark but within the allowed lateness, still counted (committed)',
    registers,
  }),
  tooLate: new Counter({
    name: 'llmopt_ingest_events_too_late_total',
    help: 'Events beyond the allowed lateness, not counted and dead-lettered as too_late (committed)',
    registers,
  }),
}));

/** The optimization flow, counted by the Temporal workers' activities (activities/outcome-metrics.ts). */
export const flowMetrics = memoized((registers) => ({
  cycles: {
    total: new Counter({
      name: 'llmopt_cycles_total',
      help: 'Optimization cycles whose analysis ended, by trigger and outcome (changed, no_change, failed)',
      labelNames: ['trigger', 'outcome'],
      registers,
    }),
    seconds: new Histogram({
      name: 'llmopt_cycle_duration_seconds',
      help: "From a cycle run's start to its decisions recorded, by trigger",
      labelNames: ['trigger'],
      buckets: LONG_BUCKETS,
      registers,
    }),
    lastSuccess: new Gauge({
      name: 'llmopt_cycle_last_success_timestamp_seconds',
      help: 'When a cycle of the target last recorded its decisions (Unix seconds)',
      labelNames: ['target'],
      registers,
    }),
    interval: new Gauge({
      name: 'llmopt_cycle_schedule_interval_seconds',
      help: "The interval of the target's cycle schedule, as its last scheduled cycle found it",
      labelNames: ['target'],
      registers,
    }),
  },
  decisions: {
    recorded: new Counter({
      name: 'llmopt_decisions_total',
      help: 'Decisions recorded by cycles, by kind and the status they were recorded with',
      labelNames: ['kind', 'status'],
      registers,
    }),
    statusChanges: new Counter({
      name: 'llmopt_decision_status_changes_total',
      help: 'Later changes of a decision status (approved, rejected, rolling_out, applied, rolled_back, …), by kind',
      labelNames: ['kind', 'status'],
      registers,
    }),
  },
  rollouts: {
    started: new Counter({
      name: 'llmopt_rollouts_started_total',
      help: 'Canary rollouts started',
      registers,
    }),
    finished: new Counter({
      name: 'llmopt_rollouts_total',
      help: 'Canary rollouts that reached an end state, by outcome (promoted, rolled_back, aborted, failed)',
      labelNames: ['outcome'],
      registers,
    }),
    verdicts: new Counter({
      name: 'llmopt_stage_verdicts_total',
      help: 'Canary stage verdicts, by outcome (pass, marginal, fail)',
      labelNames: ['outcome'],
      registers,
    }),
    rollbacks: new Counter({
      name: 'llmopt_rollbacks_total',
      help: 'Routing configs restored by the rollback workflow',
      registers,
    }),
    degradationToRollback: new Histogram({
      name: 'llmopt_rollback_after_degradation_seconds',
      help: 'From the start of the judged canary window that failed to the rollout recorded rolled back',
      buckets: LONG_BUCKETS,
      registers,
    }),
    healthChecks: new Counter({
      name: 'llmopt_health_watch_checks_total',
      help: 'Health-watch checks of a promoted change, by check (judge: pass, marginal, fail; slo: ok, breach, insufficient) and outcome',
      labelNames: ['check', 'outcome'],
      registers,
    }),
  },
}));
export type FlowMetrics = ReturnType<typeof flowMetrics>;

/** The gateway's calls to providers. */
export const gatewayMetrics = memoized((registers) => ({
  requests: new Counter({
    name: 'llmopt_gateway_requests_total',
    help: 'Provider attempts of the gateway (fallbacks included), by arm and status (ok, error, timeout, rate_limited)',
    labelNames: ['arm', 'status'],
    registers,
  }),
}));

/** What one successful shard commit reports: counts since the previous commit, and how long it took. */
export interface ShardCommitReport {
  shard: string;
  seconds: number;
  events: number;
  duplicates: number;
  late: number;
  tooLate: number;
  /** Epoch ms of the committed watermark, null before the first event. */
  watermark: number | null;
}

/** The shard observer of the data plane (pipeline/core/shard.ts ShardDeps), counting into `registry`. */
export function shardMetrics(registry: Registry) {
  const stream = streamMetrics(registry);
  return {
    claimed(shard: string): void {
      stream.epochChanges.inc({ shard });
    },
    committed(r: ShardCommitReport): void {
      stream.commitSeconds.observe({ shard: r.shard }, r.seconds);
      if (r.events > 0) stream.counted.inc(r.events);
      if (r.duplicates > 0) stream.deduplicated.inc(r.duplicates);
      if (r.late > 0) stream.late.inc(r.late);
      if (r.tooLate > 0) stream.tooLate.inc(r.tooLate);
      if (r.watermark !== null)
        stream.watermarkDelay.set({ shard: r.shard }, Math.max(0, (Date.now() - r.watermark) / 1000));
    },
    commitFailed(shard: string): void {
      stream.commitFailures.inc({ shard });
    },
  };
}
export type ShardObserver = ReturnType<typeof shardMetrics>;
