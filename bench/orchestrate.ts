/**
 * Orchestration benchmark: canary correctness of the rollout decision rule over many
 * simulated trials, time from an injected degradation to the rollback decision in judge intervals, and
 * (with the services running) cycle latency from POST /v1/optimizations to the decision stored, and the
 * measured time from the onset of an injected degradation to the rollback COMPLETE end to end on the
 * dev server (API, orchestration and analysis worker processes, simulator traffic through the live
 * routing config; tests/helpers/canary-scenario.ts), in seconds and in judge intervals (bake times).
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
    await call(sys, 'POST', '/v1/targets', {
      name: target,
      arms: [{ id: 'big', provider: 'openai', model: 'gpt-4o' }],
    });
    const ms: number[] = [];
    for (let i = 0; i < runs + 2; i++) {
      const t0 = performance.now();
      const started = await call(sys, 'POST', '/v1/optimizations', { target });
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

/**
 * Onset of an injected degradation → rollback run closed, on the live system. The canary passes stage 1
 * healthy; its profile turns +30% latency, +3 error points with the first requests served under the
 * stage-2 config; stage 2's judge (after one bake) fails it and the rollback run restores v1.
 */
async function rollbackLatency(runs: number, bakeSeconds: number): Promise<Record<string, number | string>> {
  if (!process.env.TEMPORAL_ADDRESS || !process.env.DATABASE_URL)
    return { live_rollback: 'skipped: services env not set' };
  const { startLiveSystem } = await import('../tests/helpers/live-system');
  const { BASELINE, runCanaryScenario } = await import('../tests/helpers/canary-scenario');
  const live = await startLiveSystem({
    apiEnv: { INGEST_WINDOW_MS: '1000', INGEST_FLUSH_INTERVAL_MS: '250' },
  });
  try {
    const seconds: number[] = [];
    for (let i = 0; i < runs; i++) {
      const s = await runCanaryScenario(live, {
        canary: { ...BASELINE, costUsd: 0.001 },
        degrade: {
          stage: 2,
          profile: { ...BASELINE, latencyMs: 800 * 1.3, errorRate: 0.04, costUsd: 0.001 },
        },
        bakeSeconds,
      });
      const closed = s.rollback?.closeTime?.getTime();
      if (s.result.state !== 'rolled_back' || s.degradedAt === null || closed === undefined)
        throw new Error(`run ${i + 1}: the degraded canary ended ${s.result.state}, not rolled back`);
      seconds.push((closed - s.degradedAt) / 1000);
    }
    const worst = Math.max(...seconds);
    return {
      live_rollback_runs: runs,
      live_judge_interval_s: bakeSeconds,
      live_degradation_to_rollback_complete_s_p50: Number(quantile(seconds, 0.5).toFixed(2)),
      live_degradation_to_rollback_complete_s_max: Number(worst.toFixed(2)),
      live_degradation_to_rollback_complete_judge_intervals_max: Number((worst / bakeSeconds).toFixed(2)),
      live_within_one_interval_plus_5s: worst <= bakeSeconds + 5 ? 'yes' : 'no',
    };
  } finally {
    await live.stop();
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
    ...(await rollbackLatency(
      Number(process.env.BENCH_ORCHESTRATE_ROLLBACKS ?? 3),
      Number(process.env.BENCH_ORCHESTRATE_BAKE_S ?? 10),
    )),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const figures = await runOrchestrateBench();
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(figures)}\n`);
  else for (const [k, v] of Object.entries(figures)) process.stdout.write(`${k}: ${v}\n`);
  process.exit(0);
}
