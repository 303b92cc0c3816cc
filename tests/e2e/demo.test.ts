/**
 * `npm run demo` as a test, so the demo cannot rot: the same scenario (cli/demo.ts `runDemo`) against a
 * live system of real processes — a cheaper arm of equal quality canaried and promoted, a degraded one
 * rolled back by the judge, and a signed webhook delivered to a local receiver for each outcome.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo } from '../../cli/demo';
import { uniqueName } from '../helpers/env';
import { startLiveSystem, type LiveSystem } from '../helpers/live-system';

let live: LiveSystem;
beforeAll(async () => {
  live = await startLiveSystem({ integrations: true });
});
afterAll(async () => {
  await live?.stop();
});

describe('npm run demo', () => {
  it(
    'promotes the cheaper arm, rolls back the degraded one and delivers both webhooks',
    async () => {
      const lines: string[] = [];
      const outcome = await runDemo({
        api: live.api,
        apiKey: live.adminKey,
        log: (l) => lines.push(l),
        name: uniqueName('demo'),
        timeoutMs: 6 * 60_000,
      });
      const [savings, regression] = outcome.targets;
      expect(outcome.promoted, lines.join('\n')).toMatch(new RegExp(`^rollout-${savings}-`));
      expect(outcome.rolledBack, lines.join('\n')).toMatch(new RegExp(`^rollout-${regression}-`));
      expect(outcome.webhooks[outcome.promoted!]).toContain('rollout.promoted');
      expect(outcome.webhooks[outcome.rolledBack!]).toContain('rollout.rolled_back');
      expect(outcome.ok).toBe(true);

      // The outcomes are the system's, read back through the API: the savings target now serves economy.
      const cfg = await live.call('GET', `/v1/targets/${savings}/config?segment=default`);
      expect(cfg.body.weights).toEqual({ economy: 10_000 });
      const back = await live.call('GET', `/v1/rollouts/${outcome.rolledBack}`);
      expect(back.body.state).toBe('rolled_back');
      // Every stage printed a line with a link into the Temporal Web UI.
      expect(lines.some((l) => /rollout .* started.*http/.test(l))).toBe(true);
    },
    8 * 60_000,
  );
});
