/**
 * The traffic simulator as a library: it follows the live routing config with the sticky assignment,
 * its events are valid telemetry, and an arm's profile shows in what it reports.
 */
import { describe, expect, it } from 'vitest';
import { TelemetryEvent, type LlmRequestEvent } from '../../../domain/events';
import { createSimulator, parseProfile, type LiveConfig } from '../../../cli/simulate';

describe('traffic simulator', () => {
  it('routes by the live config, keeps users sticky, and reports valid events with the arm profiles', async () => {
    let config: LiveConfig = { version: 1, weights: { big: 10000 } };
    const sent: LlmRequestEvent[] = [];
    const sim = createSimulator({
      target: 'sim-bot',
      arms: {
        big: parseProfile('latency:800,errors:0.01,quality:0.8,cost:0.004'),
        small: parseProfile('latency:1040,errors:0.04,quality:0.8,cost:0.001'),
      },
      readConfig: async () => config,
      send: async (events) => void sent.push(...events),
      users: 2000,
      seed: 3,
    });
    expect((await sim.runBatch(2000)).byArm).toEqual({ big: 2000 });

    config = { version: 2, weights: { big: 7500, small: 2500 } };
    const second = await sim.runBatch(20_000);
    expect(second.version).toBe(2);
    expect(second.byArm.small! / 20_000).toBeCloseTo(0.25, 1);

    const v2 = sent.filter((e) => e.config_version === 2);
    const armOf = new Map<string, string>();
    for (const e of v2) {
      const user = String(e.attributes!.user);
      expect(armOf.get(user) ?? e.arm).toBe(e.arm);
      armOf.set(user, e.arm!);
    }
    for (const e of sent.slice(0, 50)) expect(TelemetryEvent.safeParse(e).success).toBe(true);
    const errRate = (arm: string) =>
      v2.filter((e) => e.arm === arm && e.status === 'error').length / v2.filter((e) => e.arm === arm).length;
    expect(errRate('small')).toBeGreaterThan(errRate('big'));
  });

  it('refuses a profile that is not numbers', () => {
    expect(() => parseProfile('latency:fast')).toThrow(/latency/);
  });
});
