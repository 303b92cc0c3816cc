/**
 * One canary rollout end to end on a live system (tests/helpers/live-system.ts): a target created
 * through the API with a short custom rollout policy, the traffic simulator (cli/simulate.ts) serving
 * requests under the LIVE routing config with the production sticky assignment and reporting them to
 * the API's ingest, stamped with the wall clock (the judge's windows are the stage's real windows), and
 * an approved decision rolled out by the real orchestration worker and judged by the real analysis
 * worker on the aggregates the API process committed. With `serving` the decision is a serving change
 * of the baseline arm `big` instead, judged before/after on big's own traffic. Used by
 * tests/e2e/canary-scenarios.test.ts, tests/e2e/serving-scenarios.test.ts and the orchestration bench.
 */
import type { WorkflowExecutionDescription } from '@temporalio/client';
import { createSimulator, driveSimulator, httpSimulatorIo, type ArmProfile } from '../../cli/simulate';
import type { RoutingConfig, ServingChange } from '../../domain/model';
import { WORKFLOW_TYPES, workflowIds } from '../../domain/names';
import { createDecisionsRepo } from '../../adapters/db/repos/decisions';
import { createTargetsRepo } from '../../adapters/db/repos/targets';
import type { RolloutInput, RolloutResult } from '../../workflows/messages';
import { eventually, uniqueName } from './env';
import { startLiveSystem, type LiveSystem } from './live-system';
import { seedApprovedRollout } from './rollout';

/** The baseline arm of every scenario: median 800 ms, 1% errors, quality 0.8, $0.004 a request. */
export const BASELINE: ArmProfile = { latencyMs: 800, errorRate: 0.01, quality: 0.8, costUsd: 0.004 };

export interface ScenarioOptions {
  /** The canary arm `small`'s profile from the start (the baseline arm `big` keeps BASELINE). */
  canary: ArmProfile;
  /**
   * Switch `arm` (default the canary `small`) to this profile once stage `stage` (1-based) serves (an
   * injected degradation).
   */
  degrade?: { stage: number; profile: ArmProfile; arm?: string };
  /**
   * Roll out this serving change of `big` (from v1) instead of moving traffic to `small`; the rollout
   * starts once big has served traffic for the before window of its first bake.
   */
  serving?: ServingChange;
  /** Bake of each of the three judged stages (20%, 50%, 100%), seconds. */
  bakeSeconds?: number;
  /** Requests per second the simulator serves. */
  rps?: number;
}

export interface ScenarioResult {
  target: string;
  rolloutId: string;
  decisionId: string;
  result: RolloutResult;
  /** The routing config before the rollout, as the API served it. */
  before: RoutingConfig;
  /** The routing config after it, as the API serves it. */
  after: RoutingConfig;
  /** Every version, oldest first, from GET /v1/targets/{target}/config/history. */
  history: RoutingConfig[];
  /** Requests served per arm over the whole run. */
  served: Record<string, number>;
  /** Requests served per arm by one batch under the final config. */
  finalBatch: Record<string, number>;
  /** Wall time the degraded profile first served (ms since the epoch), when one was injected. */
  degradedAt: number | null;
  /** The rollback run (`rollback-<target>-default-v1`) when one was started. */
  rollback: WorkflowExecutionDescription | null;
}

/** A live system whose ingest commits one-second windows every 250 ms, so a bake of seconds is judged. */
export function startScenarioSystem(): Promise<LiveSystem> {
  return startLiveSystem({ apiEnv: { INGEST_WINDOW_MS: '1000', INGEST_FLUSH_INTERVAL_MS: '250' } });
}

/**
 * The policy under test: three judged stages ending at 100% like the presets (the last one judged against
 * the baseline's stage-2 traffic); small minimum samples so a run takes seconds.
 */
export function scenarioPolicy(bakeSeconds: number) {
  return {
    rollout: {
      preset: 'custom',
      stages: [
        { canary_bps: 2000, bake_seconds: bakeSeconds },
        { canary_bps: 5000, bake_seconds: bakeSeconds },
        { canary_bps: 10000, bake_seconds: bakeSeconds },
      ],
      // The one stage of a serving change bakes this long.
      bake_seconds: bakeSeconds,
      min_samples_per_arm: 300,
      max_bake_extensions: 3,
    },
  };
}

export async function runCanaryScenario(live: LiveSystem, opts: ScenarioOptions): Promise<ScenarioResult> {
  const target = uniqueName('canary-e2e');
  const created = await live.call('POST', '/v1/targets', {
    name: target,
    arms: [
      { id: 'big', provider: 'openai', model: 'gpt-4o' },
      { id: 'small', provider: 'openai', model: 'gpt-4o-mini' },
    ],
    policy: scenarioPolicy(opts.bakeSeconds ?? 5),
  });
  if (created.status !== 201) throw new Error(`POST /v1/targets answered ${created.status}`);
  const readConfig = async (): Promise<RoutingConfig> => {
    const r = await live.call('GET', `/v1/targets/${target}/config?segment=default`);
    if (r.status !== 200) throw new Error(`GET config answered ${r.status}`);
    return r.body as RoutingConfig;
  };
  const before = await readConfig();

  const arms: Record<string, ArmProfile> = { big: BASELINE, small: opts.canary };
  const sim = createSimulator({
    target,
    arms,
    users: 20_000,
    seed: 11,
    ...httpSimulatorIo({ api: live.api, target, segment: 'default', apiKey: live.adminKey }),
  });
  const served: Record<string, number> = {};
  let degradedAt: number | null = null;
  let stageVersion: number | null = null;
  let done = false;
  const failure: { traffic?: Error } = {};
  const rps = opts.rps ?? 400;
  const traffic = driveSimulator(sim, {
    rps,
    ticksPerSecond: 4,
    stop: () => done,
    onBatch: ({ version, byArm }) => {
      for (const [arm, n] of Object.entries(byArm)) served[arm] = (served[arm] ?? 0) + n;
      // The degradation arrives with the stage's config version: the first batch served under it.
      if (opts.degrade && degradedAt === null && stageVersion !== null && version >= stageVersion) {
        arms[opts.degrade.arm ?? 'small'] = opts.degrade.profile;
        degradedAt = Date.now();
      }
    },
  }).catch((err: unknown) => {
    failure.traffic = err instanceof Error ? err : new Error(String(err));
  });

  try {
    const repos = { targets: createTargetsRepo(live.db), decisions: createDecisionsRepo(live.db) };
    if (opts.serving) {
      // A before/after judge needs big's traffic over the span before the change: one bake and a half.
      const warmup = rps * (opts.bakeSeconds ?? 5) * 1.5;
      await eventually(async () => (served.big ?? 0) >= warmup, {
        timeoutMs: 60_000,
        what: `${warmup} requests served before the change`,
      });
    }
    const { input, workflowId } = await seedApprovedRollout(repos, target, live.taskQueues, {
      ...(opts.serving ? { serving: { change: opts.serving, fromVersion: before.version } } : {}),
    });
    // Stage n writes version 1 + n (the target starts at v1).
    if (opts.degrade) stageVersion = before.version + opts.degrade.stage;
    const handle = await live.client.workflow.start<(i: RolloutInput) => Promise<RolloutResult>>(
      WORKFLOW_TYPES.canaryRollout,
      { workflowId, taskQueue: live.taskQueues.orchestration, args: [input] },
    );
    const result = await handle.result();
    done = true;
    await traffic;
    if (failure.traffic) throw failure.traffic;
    const finalBatch = (await sim.runBatch(200)).byArm;
    const after = await readConfig();
    const h = await live.call('GET', `/v1/targets/${target}/config/history?segment=default&limit=200`);
    if (h.status !== 200) throw new Error(`GET config history answered ${h.status}`);
    const history = (h.body.items as RoutingConfig[]).sort((a, b) => a.version - b.version);
    const rollbackId = workflowIds.rollback(target, 'default', before.version);
    const rollback = await live.client.workflow
      .getHandle(rollbackId)
      .describe()
      .catch(() => null);
    return {
      target,
      rolloutId: workflowId,
      decisionId: input.decisionId,
      result,
      before,
      after,
      history,
      served,
      finalBatch,
      degradedAt,
      rollback,
    };
  } finally {
    done = true;
    await traffic;
  }
}

/** A routing config without what identifies one version (number, owner, reason, time): its content. */
export function configContent(
  c: RoutingConfig,
): Omit<RoutingConfig, 'version' | 'rollout_id' | 'reason' | 'created_at'> {
  const { version: _v, rollout_id: _r, reason: _why, created_at: _at, ...content } = c;
  return content;
}
