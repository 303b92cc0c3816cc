/**
 * Orchestration benchmark (issue #5): canary correctness of the rollout decision rule over many
 * simulated trials, time from an injected degradation to the rollback decision in judge intervals, and
 * (with the services running) cycle latency from POST /v1/optimizations to the decision stored.
 * `npm run bench -- orchestrate` calls `runOrchestrateBench`; alone:
 *
 *   eval "$(bash infra/services.sh env)"; DATABASE_URL=$TEST_DATABASE_URL npx tsx bench/orchestrate.ts [--json]
 *
 * The trials run the real judge (domain/intelligence/judge.ts) on production-shaped aggregates
 * (DDSketch latency, error counts, quality moments) and apply canaryRollout's rule: fail rolls back,
 * marginal extends the bake (cumulative window) up to the extension limit and then rolls back.
 */
import { buildAggregate, type RequestOutcome } from '../domain/intelligence/build-aggregate';
import { judgeCanary } from '../domain/intelligence/judge';
import { sampleNormal, seededRng, type Rng } from '../domain/stats/distributions';
import type { WindowAggregate } from '../domain/aggregate';

const TRIALS = Number(process.env.BENCH_ORCHESTRATE_TRIALS ?? 1000);
/** Requests per arm per bake interval, and bakes allowed (first bake + extensions), as the default policy. */
const PER_BAKE = 1500;
const MAX_BAKES = 4;

interface Profile {
  latencyFactor: number;
  errorRate: number;
  qualityMean: number;
}

const BASE: Profile = { latencyFactor: 1, errorRate: 0.01, qualityMean: 0.8 };

function requests(rng: Rng, p: Profile, n: number): RequestOutcome[] {
  const out: RequestOutcome[] = [];
  for (let i = 0; i < n; i++) {
    const latency = 800 * p.latencyFactor * Math.exp(0.5 * sampleNormal(rng));
    const failed = rng() < p.errorRate;
    out.push({
      latency_ms: latency,
      status: failed ? 'error' : 'ok',
      cost_usd: 0.001,
      quality: Math.min(1, Math.max(0, p.qualityMean + 0.1 * sampleNormal(rng))),
    });
  }
  return out;
}

const key = (arm: string, i: number) => ({
  target: 'bench',
  segment: 'default',
  arm,
  window_start: new Date(i * 600_000).toISOString(),
  window_end: new Date((i + 1) * 600_000).toISOString(),
});

/** One simulated stage: returns the bake (1-based) at which it rolled back, or null when promoted. */
function trial(rng: Rng, canary: Profile): { rolledBackAt: number | null } {
  const base: WindowAggregate[] = [];
  const can: WindowAggregate[] = [];
  for (let bake = 1; bake <= MAX_BAKES; bake++) {
    base.push(buildAggregate(key('baseline', bake), requests(rng, BASE, PER_BAKE)));
    can.push(buildAggregate(key('canary', bake), requests(rng, canary, PER_BAKE)));
    const v = judgeCanary({ baseline: base, canary: can, thresholds: { min_samples_per_arm: PER_BAKE } });
    if (v.outcome === 'fail') return { rolledBackAt: bake };
    if (v.outcome === 'pass') return { rolledBackAt: null };
  }
  return { rolledBackAt: MAX_BAKES };
}

function rate(rng: Rng, canary: Profile, n: number) {
  let rolledBack = 0;
  let intervals = 0;
  for (let i = 0; i < n; i++) {
    const r = trial(rng, canary);
    if (r.rolledBackAt !== null) {
      rolledBack++;
      intervals += r.rolledBackAt;
    }
  }
  return { pct: (100 * rolledBack) / n, meanIntervals: rolledBack ? intervals / rolledBack : 0 };
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};

/** POST /v1/optimizations → decision stored, through the in-process API over the real services. */
async function cycleLatency(runs: number): Promise<Record<string, number | string>> {
  if (!process.env.TEMPORAL_ADDRESS || !process.env.DATABASE_URL)
    return { cycle_latency: 'skipped: services env not set' };
  const { startTestSystem, call } = await import('../tests/helpers/system');
  const { uniqueName } = await import('../tests/helpers/env');
  const sys = await startTestSystem();
  try {
    const target = uniqueName('bench-cycle');
    await call(sys.app, 'POST', '/v1/targets', {
      name: target,
      arms: [{ id: 'big', provider: 'openai', model: 'gpt-4o' }],
    });
    const ms: number[] = [];
    for (let i = 0; i < runs + 2; i++) {
      const t0 = performance.now();
      const started = await call(sys.app, 'POST', '/v1/optimizations', { target });
      if (started.status !== 202) throw new Error(`POST /v1/optimizations answered ${started.status}`);
      await sys.client.workflow.getHandle(started.body.id).result();
      const decisions = await sys.deps.repos.decisions.byCycle(started.body.id);
      if (decisions.length === 0) throw new Error('cycle stored no decision');
      if (i >= 2) ms.push(performance.now() - t0);
    }
    return {
      cycle_runs: runs,
      cycle_latency_p50_ms: Math.round(quantile(ms, 0.5)),
      cycle_latency_p99_ms: Math.round(quantile(ms, 0.99)),
    };
  } finally {
    await sys.stop();
  }
}

export async function runOrchestrateBench(): Promise<Record<string, number | string>> {
  const rng = seededRng(7);
  const t0 = performance.now();
  const regression = rate(rng, { latencyFactor: 1.3, errorRate: 0.04, qualityMean: 0.8 }, TRIALS);
  const latencyOnly = rate(rng, { latencyFactor: 1.3, errorRate: 0.01, qualityMean: 0.8 }, TRIALS);
  const errorsOnly = rate(rng, { latencyFactor: 1, errorRate: 0.04, qualityMean: 0.8 }, TRIALS);
  const noChange = rate(rng, BASE, TRIALS);
  const trialsMs = performance.now() - t0;
  return {
    trials_per_case: TRIALS,
    requests_per_arm_per_bake: PER_BAKE,
    regression_latency30_errors3_rolled_back_pct: regression.pct,
    regression_latency30_only_rolled_back_pct: latencyOnly.pct,
    regression_errors3_only_rolled_back_pct: errorsOnly.pct,
    no_change_rolled_back_pct: noChange.pct,
    degradation_to_rollback_judge_intervals_mean: Number(regression.meanIntervals.toFixed(2)),
    trial_ms_mean: Number((trialsMs / (4 * TRIALS)).toFixed(1)),
    ...(await cycleLatency(Number(process.env.BENCH_ORCHESTRATE_CYCLES ?? 30))),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const figures = await runOrchestrateBench();
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(figures)}\n`);
  else for (const [k, v] of Object.entries(figures)) process.stdout.write(`${k}: ${v}\n`);
  process.exit(0);
}
