/**
 * Process lifecycle against the real services: every entrypoint becomes ready, SIGHUP reloads what can
 * change without a restart and logs it, SIGTERM stops it with exit code 0 within the 10 s budget, and a
 * bad configuration stops a process at start naming the variable.
 */
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../platform/net';
import { eventually, testEnv, uniqueName } from '../helpers/env';
import { spawnEntrypoint, type Spawned } from '../helpers/process';

const baseEnv = () => ({
  TEMPORAL_ADDRESS: testEnv.TEMPORAL_ADDRESS,
  DATABASE_URL: testEnv.DATABASE_URL,
  LOG_LEVEL: 'info',
  TASK_QUEUE_ORCHESTRATION: uniqueName('tq-o'),
  TASK_QUEUE_ANALYSIS: uniqueName('tq-a'),
  TASK_QUEUE_INTEGRATIONS: uniqueName('tq-i'),
});

const running: Spawned[] = [];
afterEach(() => {
  for (const p of running.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
});

async function readyAt(url: string): Promise<void> {
  await eventually(async () => (await fetch(url).catch(() => null))?.status === 200, {
    timeoutMs: 60_000,
    what: url,
  });
}

const ENTRYPOINTS = [
  { file: 'workers/orchestration.ts', kind: 'worker' },
  { file: 'workers/analysis.ts', kind: 'worker' },
  { file: 'workers/integrations.ts', kind: 'worker' },
  { file: 'workers/stream.ts', kind: 'worker' },
  { file: 'api/main.ts', kind: 'api' },
] as const;

describe.each(ENTRYPOINTS)('$file', ({ file, kind }) => {
  it('becomes ready, reloads on SIGHUP, and exits 0 within 10 s of SIGTERM', async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'llmopt-'));
    const configFile = join(dir, 'reload.env');
    writeFileSync(configFile, 'LOG_LEVEL=info\n');
    const proc = spawnEntrypoint(file, {
      ...baseEnv(),
      ...(kind === 'api' ? { PORT: String(port) } : { HEALTH_PORT: String(port) }),
      CONFIG_FILE: configFile,
    });
    running.push(proc);
    await readyAt(`http://127.0.0.1:${port}/readyz`);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toContain('llmopt_process_resident_memory_bytes');
    // Temporal workers also export Temporal Core's own metrics on the same endpoint.
    if (file !== 'workers/stream.ts' && kind === 'worker') expect(metrics).toMatch(/^temporal_request/m);

    writeFileSync(configFile, 'LOG_LEVEL=debug\nAPI_REQUEST_TIMEOUT_MS=12345\n');
    proc.child.kill('SIGHUP');
    await eventually(async () => proc.output().includes('reloaded configuration'), {
      what: 'the reload log line',
    });
    const reloadLine = proc
      .output()
      .split('\n')
      .find((l) => l.includes('reloaded configuration'))!;
    expect(JSON.parse(reloadLine).changed).toMatchObject({
      LOG_LEVEL: { from: 'info', to: 'debug' },
      API_REQUEST_TIMEOUT_MS: { from: 30000, to: 12345 },
    });

    const sentAt = Date.now();
    proc.child.kill('SIGTERM');
    const exit = await proc.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - sentAt).toBeLessThan(10_000);
  });
});

describe('configuration', () => {
  it('refuses a bad value at start and names the variable and the expected form', async () => {
    const proc = spawnEntrypoint('api/main.ts', {
      ...baseEnv(),
      PORT: 'eighty',
      DATABASE_URL: 'mysql://nope',
    });
    running.push(proc);
    const exit = await proc.exited;
    expect(exit.code).toBe(78);
    expect(proc.output()).toMatch(/PORT: .*\(got "eighty"\)/);
    expect(proc.output()).toMatch(/DATABASE_URL: must start with postgres:\/\/ or postgresql:\/\//);
  });

  it('keeps the running configuration when a SIGHUP brings a bad value', async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'llmopt-'));
    const configFile = join(dir, 'reload.env');
    writeFileSync(configFile, '');
    const proc = spawnEntrypoint('workers/stream.ts', {
      ...baseEnv(),
      HEALTH_PORT: String(port),
      CONFIG_FILE: configFile,
    });
    running.push(proc);
    await readyAt(`http://127.0.0.1:${port}/readyz`);
    writeFileSync(configFile, 'LOG_LEVEL=loud\n');
    proc.child.kill('SIGHUP');
    await eventually(async () => proc.output().includes('SIGHUP reload refused'), { what: 'the refusal' });
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    proc.child.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
  });
});
