/**
 * Serving changes (rate_limit) end to end on the real dev server: the API, orchestration worker and
 * analysis worker run as their own processes (tests/helpers/live-system.ts); the traffic simulator
 * serves big under the live routing config and reports through the API's ingest; the real judge and
 * SLO check read big's committed window aggregates after the change against big's own before it.
 *
 * - an arm that serves after the change as before is promoted: the override stays, weights unchanged;
 * - an arm that degrades once the change serves (latency +30%, 429s up 3 points) is rolled back: the
 *   previous version (without the override) is restored as a new version owned by the rollback run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServingChange } from '../../domain/model';
import { BASELINE, configContent, runCanaryScenario, startScenarioSystem } from '../helpers/canary-scenario';
import type { LiveSystem } from '../helpers/live-system';

const CHANGE: ServingChange = { arm: 'big', field: 'max_concurrency', from: null, to: 24 };

let live: LiveSystem;
beforeAll(async () => {
  live = await startScenarioSystem();
}, 180_000);
afterAll(async () => {
  await live?.stop();
});

describe('serving changes on the live system', () => {
  it(
    'promotes a change after which the arm serves as before, keeping the override',
    { timeout: 120_000 },
    async () => {
      const s = await runCanaryScenario(live, { canary: BASELINE, serving: CHANGE });
      expect(s.result.state).toBe('promoted');
      const [verdict] = s.result.verdicts;
      expect(verdict!.outcome).toBe('pass');
      // Judged big after the change against big before it, each side past the minimum samples.
      expect(verdict!.samples.baseline).toBeGreaterThanOrEqual(300);
      expect(verdict!.samples.canary).toBeGreaterThanOrEqual(300);
      expect(s.history.map((c) => [c.version, c.weights, c.serving ?? {}, c.rollout_id])).toEqual([
        [1, { big: 10000 }, {}, null],
        [2, { big: 10000 }, { big: { max_concurrency: 24 } }, s.rolloutId],
      ]);
      expect(s.after).toEqual(s.history[1]);
      expect(s.served.small ?? 0).toBe(0);
      expect((await live.call('GET', `/v1/decisions/${s.decisionId}`)).body.status).toBe('applied');
      expect((await live.call('GET', `/v1/rollouts/${s.rolloutId}`)).body.state).toBe('promoted');
    },
  );

  it(
    'rolls back a change after which the arm degrades, restoring the previous serving policy',
    { timeout: 120_000 },
    async () => {
      const s = await runCanaryScenario(live, {
        canary: BASELINE,
        serving: CHANGE,
        degrade: { stage: 1, arm: 'big', profile: { ...BASELINE, latencyMs: 800 * 1.3, errorRate: 0.04 } },
      });
      expect(s.result.state).toBe('rolled_back');
      expect(s.degradedAt).not.toBeNull();
      const failed = s.result.verdicts.at(-1)!;
      expect(failed.outcome).toBe('fail');
      expect(failed.reasons.join('; ')).toMatch(/regression: (latency|error_rate)/);

      const rollbackId = `rollback-${s.target}-default-v1`;
      expect(s.history.map((c) => [c.version, c.serving ?? {}, c.rollout_id])).toEqual([
        [1, {}, null],
        [2, { big: { max_concurrency: 24 } }, s.rolloutId],
        [3, {}, rollbackId],
      ]);
      expect(configContent(s.history[2]!)).toEqual(configContent(s.before));
      expect(s.after).toEqual(s.history[2]);
      expect(s.rollback?.status.name).toBe('COMPLETED');
      expect((await live.call('GET', `/v1/decisions/${s.decisionId}`)).body.status).toBe('rolled_back');
      expect((await live.call('GET', `/v1/rollouts/${s.rolloutId}`)).body.state).toBe('rolled_back');
    },
  );
});
