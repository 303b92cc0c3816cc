/**
 * Prometheus metrics of the integrations worker, on the process's own registry (served on /metrics):
 * webhook attempts by outcome and status class, attempt latency, dead letters, the circuit-breaker
 * state of each integration, and the LLM judge's tokens and cost.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type AttemptOutcome = 'succeeded' | 'retry' | 'rejected' | 'skipped';

/** 2xx … 5xx, or `network` (no answer) and `refused` (destination not allowed). */
export function statusClass(status: number | null, refused = false): string {
  if (refused) return 'refused';
  if (status === null) return 'network';
  return `${Math.floor(status / 100)}xx`;
}

const BREAKER_VALUES = { closed: 0, open: 1, half_open: 2 } as const;

type BreakerSource = () => { kind: string; state: keyof typeof BREAKER_VALUES }[];

function build(registry: Registry, breakerSources: BreakerSource[]) {
  const registers = [registry];
  return {
    attempts: new Counter({
      name: 'llmopt_webhook_delivery_attempts_total',
      help: 'Webhook delivery attempts by outcome (succeeded, retry, rejected, skipped) and status class (2xx..5xx, network, refused)',
      labelNames: ['outcome', 'status_class'],
      registers,
    }),
    attemptSeconds: new Histogram({
      name: 'llmopt_webhook_attempt_duration_seconds',
      help: 'Time from sending a webhook attempt to its answer (or failure), by status class',
      labelNames: ['status_class'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    deadLetters: new Counter({
      name: 'llmopt_webhook_dead_letters_total',
      help: 'Webhook deliveries dead-lettered, by reason (rejected, attempts_exhausted)',
      labelNames: ['reason'],
      registers,
    }),
    breaker: new Gauge({
      name: 'llmopt_integration_circuit_state',
      help: 'Circuit-breaker state per integration in this worker: 0 closed, 1 open, 2 half-open',
      labelNames: ['integration'],
      registers,
      // Read at scrape time from every isolation registered with this registry.
      collect(this: Gauge<'integration'>) {
        for (const source of breakerSources)
          for (const { kind, state } of source()) this.set({ integration: kind }, BREAKER_VALUES[state]);
      },
    }),
    judgeTokens: new Counter({
      name: 'llmopt_judge_tokens_total',
      help: 'Tokens the LLM judge and the prompt writer spent, by use (judge, propose) and direction (input, output)',
      labelNames: ['use', 'direction'],
      registers,
    }),
    judgeCost: new Counter({
      name: 'llmopt_judge_cost_usd_total',
      help: 'USD the LLM judge and the prompt writer spent, by use (judge, propose)',
      labelNames: ['use'],
      registers,
    }),
    judgeScores: new Counter({
      name: 'llmopt_judge_samples_total',
      help: 'Sampled requests the LLM judge handled, by outcome (scored, unparseable)',
      labelNames: ['outcome'],
      registers,
    }),
  };
}
export type IntegrationMetrics = ReturnType<typeof build> & {
  /** Reports breaker states at every scrape. */
  watchBreakers(states: BreakerSource): void;
};

const byRegistry = new WeakMap<Registry, IntegrationMetrics>();

/** The integration metrics of a registry, created once per registry. */
export function integrationMetrics(registry: Registry): IntegrationMetrics {
  let m = byRegistry.get(registry);
  if (!m) {
    const sources: BreakerSource[] = [];
    m = { ...build(registry, sources), watchBreakers: (states) => sources.push(states) };
    byRegistry.set(registry, m);
  }
  return m;
}
