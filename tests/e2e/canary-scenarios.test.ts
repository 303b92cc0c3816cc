/**
 * Canary rollouts end to end on the real dev server: the API, orchestration worker and analysis worker
 * run as their own processes (tests/helpers/live-system.ts); the traffic simulator serves requests under
 * the live routing config with the production sticky assignment and reports them through the API's
 * ingest, whose committed window aggregates are what the real judge reads (tests/helpers/canary-scenario.ts).
 *
 * - a degraded canary (latency +30%, errors +3 points) is rolled back, and the routing config is restored
 *   to the exact previous version: same content, as a new version owned by the rollback run;
 * - a cheaper canary of equal quality is promoted to 100%;
 * - an A/A canary (identical arms) is promoted, not rolled back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASELINE, configContent, runCanaryScenario, type ScenarioResult } from '../helpers/canary-scenario';
import { startLiveSystem, type LiveSystem } from '../helpers/live-system';

let live: LiveSystem;
beforeAll(async () => {
  live = await startLiveSystem({ apiEnv: { INGEST_WINDOW_MS: '1000', INGEST_FLUSH_INTERVAL_MS: '250' } });
}, 180_000);
afterAll(async () => {
  await live?.stop();
});

/** The checks every promoted scenario shares: all traffic on the canary, every stage passed, nothing undone. */
async function expectPromoted(s: ScenarioResult) {
  expect(s.result.state).toBe('promoted');
  expect(s.result.verdicts.map((v) => v.outcome)).toEqual(['pass', 'pass', 'pass']);
  // At 100% the canary is judged on its own traffic against the baseline's last (stage-2) window.
  expect(s.result.verdicts[2]!.samples.baseline).toBeGreaterThanOrEqual(300);
  // v1 (all big) → stage 1 at 20% → stage 2 at 50% → stage 3 at 100%, each written by the rollout.
  expect(s.history.map((c) => [c.version, c.weights.small ?? 0, c.rollout_id])).toEqual([
    [1, 0, null],
    [2, 2000, s.rolloutId],
    [3, 5000, s.rolloutId],
    [4, 10000, s.rolloutId],
  ]);
  expect(s.after).toMatchObject({ version: 4, weights: { small: 10000 } });
  expect(s.finalBatch).toEqual({ small: 200 });
  expect(s.rollback).toBeNull();
  const decision = await live.call('GET', `/v1/decisions/${s.decisionId}`);
  expect(decision.body.status).toBe('applied');
  const rollout = await live.call('GET', `/v1/rollouts/${s.rolloutId}`);
  expect(rollout.body.state).toBe('promoted');
}

describe('canary rollouts on the live system', () => {
  it(
    'rolls back a degraded canary and restores the exact previous routing config',
    { timeout: 120_000 },
    async () => {
      const s = await runCanaryScenario(live, {
        canary: { ...BASELINE, costUsd: 0.001 },
        degrade: {
          stage: 1,
          profile: { ...BASELINE, latencyMs: 800 * 1.3, errorRate: 0.04, costUsd: 0.001 },
        },
      });
      expect(s.result.state).toBe('rolled_back');
      expect(s.degradedAt).not.toBeNull();
      const failed = s.result.verdicts.at(-1)!;
      expect(failed.outcome).toBe('fail');
      expect(failed.reasons.join('; ')).toMatch(/regression: (latency|error_rate)/);
      expect(failed.samples.canary).toBeGreaterThan(0);

      // Version lineage: v1, the stage's v2 by the rollout, then v3 by the rollback run restoring v1.
      const rollbackId = `rollback-${s.target}-default-v1`;
      expect(s.history.map((c) => [c.version, c.rollout_id])).toEqual([
        [1, null],
        [2, s.rolloutId],
        [3, rollbackId],
      ]);
      expect(s.history[1]!.weights).toEqual({ big: 8000, small: 2000 });
      expect(s.history[2]!.reason).toContain('rollback to v1 (stage_failed)');
      // Content: the restored version is v1's config exactly, and it is what the API serves now.
      expect(configContent(s.history[2]!)).toEqual(configContent(s.before));
      expect(s.after).toEqual(s.history[2]);
      expect(s.finalBatch).toEqual({ big: 200 });

      expect(s.rollback?.status.name).toBe('COMPLETED');
      expect(s.result.finalVersion).toBe(3);
      const decision = await live.call('GET', `/v1/decisions/${s.decisionId}`);
      expect(decision.body.status).toBe('rolled_back');
      const rollout = await live.call('GET', `/v1/rollouts/${s.rolloutId}`);
      expect(rollout.body.state).toBe('rolled_back');
    },
  );

  it('promotes a cheaper canary of equal quality to 100%', { timeout: 120_000 }, async () => {
    const s = await runCanaryScenario(live, { canary: { ...BASELINE, costUsd: 0.0008 } });
    await expectPromoted(s);
    // The canary really served, at a fifth of the cost, and was judged on its own traffic.
    expect(s.served.small).toBeGreaterThan(600);
    expect(Math.min(...s.result.verdicts.map((v) => v.samples.canary))).toBeGreaterThanOrEqual(300);
  });

  it('promotes an A/A canary (identical arms) instead of rolling it back', { timeout: 120_000 }, async () => {
    const s = await runCanaryScenario(live, { canary: BASELINE });
    await expectPromoted(s);
    for (const v of s.result.verdicts) expect(v.metrics.every((m) => m.passed)).toBe(true);
  });
});
