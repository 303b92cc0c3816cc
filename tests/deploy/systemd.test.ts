/**
 * The systemd units of a VM install (infra/deploy/systemd): `systemd-analyze verify` loads each unit as
 * systemd would (unknown keys, bad values, a missing executable, a broken dependency all fail it), and
 * `systemd-analyze security --offline` scores the hardening of each process unit.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEPLOY_DIR, INSTALL_TIMEOUT_MS, installTools, run, type Tools } from './tools';

const UNITS_DIR = join(DEPLOY_DIR, 'systemd');
const units = readdirSync(UNITS_DIR).filter((f) => /\.(service|target)$/.test(f));
const PROCESSES: Record<string, string> = {
  'llmopt-api.service': 'dist/api/main.mjs',
  'llmopt-stream.service': 'dist/workers/stream.mjs',
  'llmopt-orchestration-worker.service': 'dist/workers/orchestration.mjs',
  'llmopt-analysis-worker.service': 'dist/workers/analysis.mjs',
  'llmopt-integrations-worker.service': 'dist/workers/integrations.mjs',
};
// systemd's exposure scale is 0 (locked down) to 10 (unprotected); 2 and below is rated OK.
const MAX_EXPOSURE = 2;

const directive = (unit: string, key: string) =>
  [...readFileSync(join(UNITS_DIR, unit), 'utf8').matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map(
    (m) => m[1],
  );

let tools: Tools;
beforeAll(async () => {
  tools = await installTools();
}, INSTALL_TIMEOUT_MS);

describe('systemd units', () => {
  it('has one unit per process, plus the migration and a target that starts them all', () => {
    expect(units.sort()).toEqual(
      [...Object.keys(PROCESSES), 'llmopt-migrate.service', 'llmopt.target'].sort(),
    );
    for (const [unit, entry] of Object.entries(PROCESSES)) {
      expect(directive(unit, 'ExecStart')).toEqual([`/usr/bin/node --enable-source-maps ${entry}`]);
      expect(directive(unit, 'Restart')).toEqual(['on-failure']);
      // Exit 78 is a bad configuration: restarting would only fail again.
      expect(directive(unit, 'RestartPreventExitStatus')).toEqual(['78']);
      expect(directive(unit, 'Requires')).toEqual(['llmopt-migrate.service']);
    }
  });

  it('passes systemd-analyze verify', async () => {
    const r = await run(tools.SYSTEMD_ANALYZE, ['verify', ...units.map((u) => join(UNITS_DIR, u))]);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it.each(Object.keys(PROCESSES).concat('llmopt-migrate.service'))('hardens %s', async (unit) => {
    const r = await run(tools.SYSTEMD_ANALYZE, [
      'security',
      '--offline=yes',
      '--no-pager',
      join(UNITS_DIR, unit),
    ]);
    const exposure = /Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout);
    expect(exposure, r.stdout + r.stderr).not.toBeNull();
    expect(Number(exposure![1])).toBeLessThanOrEqual(MAX_EXPOSURE);
  });
});
