/**
 * Traffic simulator: serves synthetic requests the way an application does — it reads the LIVE routing
 * config, assigns each user an arm by the same sticky hash as domain/routing.ts, draws the outcome from
 * the arm's profile (latency, errors, quality, cost) and reports `llm.request` telemetry in batches.
 * A library for tests and the bench (`createSimulator`), and a script:
 *
 *   npx tsx cli/simulate.ts --api http://127.0.0.1:8080 --target support-bot [--segment default]
 *     [--rps 50] [--seconds 60] [--users 5000] [--api-key KEY]
 *     [--arm gpt-4o=latency:900,errors:0.01,quality:0.85,cost:0.004] [--arm ...]
 */
import { randomUUID } from 'node:crypto';
import { Command } from 'commander';
import type { LlmRequestEvent } from '../domain/events';
import type { Weights } from '../domain/model';
import { assignArm } from '../domain/routing';
import { sampleNormal, seededRng, type Rng } from '../domain/stats/distributions';

export interface ArmProfile {
  /** Median latency in ms; latencies are log-normal around it. */
  latencyMs: number;
  /** Spread of log latency (0.4 ≈ p95 at twice the median). */
  latencySigma?: number;
  /** Share of requests that fail (0..1). */
  errorRate: number;
  /** Mean quality score (0..1) and its standard deviation. */
  quality: number;
  qualitySd?: number;
  /** Cost per request in USD. */
  costUsd: number;
}

export interface LiveConfig {
  version: number;
  weights: Weights;
}

export interface SimulatorOptions {
  target: string;
  segment?: string;
  /**
   * Profiles by arm id; an arm the config routes to without a profile is an error. Read on every
   * request, so a caller may change a profile while it runs (inject a degradation).
   */
  arms: Record<string, ArmProfile>;
  readConfig: () => Promise<LiveConfig>;
  send: (events: LlmRequestEvent[]) => Promise<void>;
  /** Distinct users (assignment keys) requests are drawn from. */
  users?: number;
  seed?: number;
  /** Event time of a batch; the wall clock by default. */
  now?: () => Date;
}

export function createSimulator(opts: SimulatorOptions) {
  const rng: Rng = seededRng(opts.seed ?? 1);
  const users = opts.users ?? 5000;
  const segment = opts.segment ?? 'default';
  let sent = 0;

  function outcome(arm: string, p: ArmProfile, cfg: LiveConfig, user: string, at: Date): LlmRequestEvent {
    const latency = p.latencyMs * Math.exp((p.latencySigma ?? 0.4) * sampleNormal(rng));
    const failed = rng() < p.errorRate;
    const quality = Math.min(1, Math.max(0, p.quality + (p.qualitySd ?? 0.1) * sampleNormal(rng)));
    return {
      type: 'llm.request',
      id: randomUUID(),
      timestamp: at.toISOString(),
      target: opts.target,
      segment,
      arm,
      config_version: cfg.version,
      request_id: randomUUID(),
      model: arm,
      provider: 'simulated',
      latency_ms: Math.round(latency * 10) / 10,
      input_tokens: 500,
      output_tokens: 200,
      cost_usd: p.costUsd,
      status: failed ? 'error' : 'ok',
      ...(failed ? { error_type: 'simulated_error' } : { quality_score: Math.round(quality * 1000) / 1000 }),
      attributes: { user },
    };
  }

  return {
    /** Serves `n` requests under the config that is live now and reports them as one batch. */
    async runBatch(n: number): Promise<{ version: number; byArm: Record<string, number> }> {
      const cfg = await opts.readConfig();
      const at = opts.now?.() ?? new Date();
      const byArm: Record<string, number> = {};
      const events: LlmRequestEvent[] = [];
      for (let i = 0; i < n; i++) {
        const user = `user-${Math.floor(rng() * users)}`;
        const arm = assignArm(cfg.weights, user);
        const profile = opts.arms[arm];
        if (!profile)
          throw new Error(`routing config v${cfg.version} sends traffic to arm "${arm}" with no profile`);
        byArm[arm] = (byArm[arm] ?? 0) + 1;
        events.push(outcome(arm, profile, cfg, user, at));
      }
      await opts.send(events);
      sent += n;
      return { version: cfg.version, byArm };
    },
    get sent() {
      return sent;
    },
  };
}

export type Simulator = ReturnType<typeof createSimulator>;

/** How an application talks to the API: read the live routing config, report telemetry (POST /v1/events). */
export function httpSimulatorIo(o: {
  api: string;
  target: string;
  segment: string;
  apiKey?: string | undefined;
}): Pick<SimulatorOptions, 'readConfig' | 'send'> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}),
  };
  return {
    readConfig: async () => {
      const r = await fetch(`${o.api}/v1/targets/${o.target}/config?segment=${o.segment}`, { headers });
      if (!r.ok) throw new Error(`GET config answered ${r.status}: ${await r.text()}`);
      return (await r.json()) as LiveConfig;
    },
    send: async (events) => {
      const r = await fetch(`${o.api}/v1/events`, { method: 'POST', headers, body: JSON.stringify(events) });
      if (r.status !== 202) throw new Error(`POST /v1/events answered ${r.status}: ${await r.text()}`);
    },
  };
}

/**
 * Serves `rps` requests per second in `ticksPerSecond` batches (each under the config live at its
 * time, stamped with the wall clock) until `stop()` answers true; `onBatch` sees each batch served.
 */
export async function driveSimulator(
  sim: Simulator,
  o: {
    rps: number;
    stop: () => boolean;
    ticksPerSecond?: number;
    onBatch?: (b: { version: number; byArm: Record<string, number> }) => void;
  },
): Promise<void> {
  const ticks = o.ticksPerSecond ?? 1;
  const tickMs = 1000 / ticks;
  while (!o.stop()) {
    const started = Date.now();
    o.onBatch?.(await sim.runBatch(Math.max(1, Math.round(o.rps / ticks))));
    await new Promise((r) => setTimeout(r, Math.max(0, tickMs - (Date.now() - started))));
  }
}

/** "latency:900,errors:0.01,quality:0.85,cost:0.004" → ArmProfile. */
export function parseProfile(spec: string): ArmProfile {
  const kv = Object.fromEntries(spec.split(',').map((p) => p.split(':') as [string, string]));
  const num = (k: string, d: number) => (kv[k] === undefined ? d : Number(kv[k]));
  const p: ArmProfile = {
    latencyMs: num('latency', 800),
    errorRate: num('errors', 0.01),
    quality: num('quality', 0.8),
    costUsd: num('cost', 0.002),
  };
  for (const [k, v] of Object.entries(p))
    if (!Number.isFinite(v)) throw new Error(`profile "${spec}": ${k} is not a number`);
  return p;
}

async function main(): Promise<void> {
  const program = new Command()
    .requiredOption('--target <name>')
    .option('--api <url>', 'API base URL', 'http://127.0.0.1:8080')
    .option('--segment <name>', 'segment', 'default')
    .option('--rps <n>', 'requests per second', '50')
    .option('--seconds <n>', 'how long to run', '60')
    .option('--users <n>', 'distinct users', '5000')
    .option('--api-key <key>', 'API key (Authorization: Bearer)')
    .option(
      '--arm <id=profile>',
      'arm profile, repeatable',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .parse();
  const o = program.opts<{
    target: string;
    api: string;
    segment: string;
    rps: string;
    seconds: string;
    users: string;
    apiKey?: string;
    arm: string[];
  }>();
  const arms = Object.fromEntries(
    o.arm.map((a) => [a.slice(0, a.indexOf('=')), parseProfile(a.slice(a.indexOf('=') + 1))]),
  );
  const sim = createSimulator({
    target: o.target,
    segment: o.segment,
    arms,
    users: Number(o.users),
    seed: Date.now() % 2 ** 31,
    ...httpSimulatorIo(o),
  });
  const end = Date.now() + Number(o.seconds) * 1000;
  await driveSimulator(sim, {
    rps: Number(o.rps),
    stop: () => Date.now() >= end,
    onBatch: ({ version, byArm }) =>
      process.stdout.write(`${new Date().toISOString()} v${version} ${JSON.stringify(byArm)}\n`),
  });
  process.stdout.write(`sent ${sim.sent} requests\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
