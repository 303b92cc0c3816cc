/**
 * Analyze-and-decide benchmark (issue #4 targets): one `runIntelligence` call for a target with 50 arms
 * and 60 hourly windows of production-shaped aggregates (DDSketch latency, quality moments, errors),
 * timed over repeated runs. `npm run bench -- decide` calls `runDecideBench`; alone:
 *
 *   tsx bench/decide.ts [--json]
 */
import { TargetPolicy, type Arm } from '../domain/model';
import type { WindowAggregate } from '../domain/aggregate';
import { runIntelligence } from '../domain/intelligence/cycle';
import { buildAggregate } from '../domain/intelligence/build-aggregate';
import { explorationWeights } from '../domain/strategies/model-selection';
import { clearSketchCache } from '../domain/intelligence/fast-sketch';
import { sampleNormal, seededRng } from '../domain/stats/distributions';

const ARMS = 50;
const WINDOWS = 60;
const PER_WINDOW = 100;
const ITERATIONS = 60;
const WARMUP = 5;

function fixture(): { arms: Arm[]; aggregates: WindowAggregate[] } {
  const rng = seededRng(42);
  const arms: Arm[] = Array.from({ length: ARMS }, (_, i) => ({
    id: `arm-${String(i).padStart(2, '0')}`,
    provider: `provider-${i % 5}`,
    model: `model-${i}`,
    prompt_template: 'default',
    prompt_version: 1,
    params: {},
    serving: { max_concurrency: 16 },
  }));
  const t0 = Date.parse('2026-03-01T00:00:00.000Z');
  const aggregates: WindowAggregate[] = [];
  arms.forEach((arm, i) => {
    const quality = 0.6 + 0.3 * rng();
    const cost = 0.0005 + 0.01 * rng();
    const median = 300 + 1500 * rng();
    for (let w = 0; w < WINDOWS; w++) {
      const reqs = Array.from({ length: i === 0 ? PER_WINDOW * 10 : PER_WINDOW }, () => {
        const failed = rng() < 0.01;
        return {
          latency_ms: median * Math.exp(0.4 * sampleNormal(rng)),
          ttft_ms: 0.3 * median * Math.exp(0.4 * sampleNormal(rng)),
          status: failed ? ('error' as const) : ('ok' as const),
          cost_usd: cost,
          quality: failed ? undefined : rng() < quality ? 1 : 0,
        };
      });
      aggregates.push(
        buildAggregate(
          {
            target: 'bench-target',
            segment: 'default',
            arm: arm.id,
            window_start: new Date(t0 + w * 3_600_000).toISOString(),
            window_end: new Date(t0 + (w + 1) * 3_600_000).toISOString(),
          },
          reqs,
        ),
      );
    }
  });
  return { arms, aggregates };
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;

/** A fixed CPU workload (sorting 200,000 numbers) timed beside the bench, so a reader can tell a loaded machine. */
function referenceMs(): number {
  const rng = seededRng(7);
  const xs = Array.from({ length: 200_000 }, () => rng());
  const t = performance.now();
  xs.sort((a, b) => a - b);
  return performance.now() - t;
}

/** Time analyze-and-decide; returns milliseconds per call (p50, p99, mean, max) and the fixture's size. */
export async function runDecideBench(): Promise<Record<string, number>> {
  const { arms, aggregates } = fixture();
  const policy = TargetPolicy.parse({ quality_floor: 0.95, latency_slo_ms: 3000, budget_usd_per_day: 500 });
  const input = {
    target: 'bench-target',
    policy,
    arms,
    routing: {
      default: {
        version: 7,
        weights: explorationWeights(
          arms[0]!.id,
          arms.map((a) => a.id),
          {},
          0.1,
        ),
      },
    },
    aggregates,
    active_rollouts: [],
    now: '2026-03-03T12:00:00.000Z',
  };
  // Cold: every window's sketch decoded afresh, as in a worker's first cycle. Warm: a long-running
  // worker has decoded the earlier windows in its previous cycle.
  // CPU time beside wall time: on a shared machine the process waits for a core, which wall time counts.
  const times: number[] = [];
  const cpu: number[] = [];
  const warm: number[] = [];
  let decisions = 0;
  for (let i = 0; i < WARMUP + ITERATIONS; i++) {
    clearSketchCache();
    const c0 = process.cpuUsage();
    let t = performance.now();
    const out = runIntelligence({ ...input, seed: i });
    const dt = performance.now() - t;
    const dc = process.cpuUsage(c0);
    if (i >= WARMUP) cpu.push((dc.user + dc.system) / 1000);
    t = performance.now();
    runIntelligence({ ...input, seed: i });
    const dw = performance.now() - t;
    if (i >= WARMUP) {
      times.push(dt);
      warm.push(dw);
    }
    decisions = out.decisions.length;
  }
  times.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  warm.sort((a, b) => a - b);
  return {
    arms: ARMS,
    windows: WINDOWS,
    aggregates: aggregates.length,
    iterations: ITERATIONS,
    decisions,
    p50_ms: quantile(times, 0.5),
    p99_ms: quantile(times, 0.99),
    mean_ms: times.reduce((a, b) => a + b, 0) / times.length,
    max_ms: times.at(-1)!,
    cpu_p50_ms: quantile(cpu, 0.5),
    cpu_p99_ms: quantile(cpu, 0.99),
    warm_p50_ms: quantile(warm, 0.5),
    warm_p99_ms: quantile(warm, 0.99),
    reference_sort_ms: referenceMs(),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runDecideBench();
  if (!process.argv.includes('--json'))
    console.log(
      `decide: ${result['arms']} arms × ${result['windows']} windows, p50 ${result['p50_ms']!.toFixed(1)} ms, p99 ${result['p99_ms']!.toFixed(1)} ms cold (warm p50 ${result['warm_p50_ms']!.toFixed(1)}, p99 ${result['warm_p99_ms']!.toFixed(1)} ms) over ${result['iterations']} runs`,
    );
  console.log(JSON.stringify(result));
}
