/**
 * `llmopt rollouts get --watch` follows a real canary run (real orchestration worker, verdicts scripted
 * to pass) to promotion and exits 0: piped, one line per change; on a terminal (tmux), one view redrawn
 * in place, its stages and verdicts, checked through tmux capture-pane.
 */
// First: zod-openapi must extend zod before any domain schema is built.
import '@hono/zod-openapi';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WORKFLOW_TYPES } from '../../domain/names';
import { eventually } from '../helpers/env';
import { seedApprovedRollout, seedTarget } from '../helpers/rollout';
import { BIN, startCliSystem, type CliSystem } from './harness';

let s: CliSystem;
const socket = `llmopt-cli-${randomBytes(4).toString('hex')}`;
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });

beforeAll(async () => {
  s = await startCliSystem();
});
afterAll(async () => {
  try {
    tmux('kill-server');
  } catch {
    // no server was started
  }
  await s?.stop();
});

/** A rollout of three short stages whose verdicts pass: it promotes within seconds. */
async function startShortRollout(): Promise<string> {
  const repos = s.sys.deps.repos;
  const target = await seedTarget(repos, { prefix: 'cli-w' });
  const { input, workflowId } = await seedApprovedRollout(repos, target, s.sys.taskQueues, {
    overrides: {
      stages: [
        { canary_bps: 2000, bake_seconds: 2, requires_approval: false },
        { canary_bps: 5000, bake_seconds: 2, requires_approval: false },
        { canary_bps: 10000, bake_seconds: 2, requires_approval: false },
      ],
      maxBakeExtensions: 0,
    },
  });
  await s.sys.client.workflow.start(WORKFLOW_TYPES.canaryRollout, {
    workflowId,
    taskQueue: s.sys.taskQueues.orchestration,
    args: [input],
  });
  return workflowId;
}

describe('llmopt rollouts get --watch', () => {
  it('follows a rollout to promotion: exit 0, piped as lines, live under tmux with stages and verdicts', async () => {
    const id = await startShortRollout();
    // The rollout's row is written by the run's first step; until then the id is unknown (exit 3).
    await eventually(async () => (await s.cli(['rollouts', 'get', id])).code === 0, {
      what: 'the rollout row',
    });
    const env = { LLMOPT_API_URL: s.api, LLMOPT_API_KEY: s.sys.adminKey };
    // On a terminal: tmux runs it in a pane of its own; the pane stays open once it ends to be read.
    tmux(
      'new-session',
      '-d',
      '-s',
      'watch',
      '-x',
      '200',
      '-y',
      '50',
      ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
      `${process.execPath} ${BIN} rollouts get ${id} --watch --interval 0.5; echo "llmopt exited $?"; exec cat`,
    );
    const piped = await s.cli(['rollouts', 'get', id, '--watch', '--interval', '0.5']);
    expect(piped.stderr).toBe('');
    expect(piped.code).toBe(0);
    const lines = piped.stdout.split('\n');
    expect(lines.some((l) => /: progressing, stage 0 at 20%/.test(l))).toBe(true);
    expect(lines.some((l) => /: promoted, stage 2 at 100%; last verdict pass$/.test(l))).toBe(true);
    // The final view follows the lines: every stage passed with its verdict.
    expect(piped.stdout).toMatch(/2\s+100%\s+2s\s+-\s+passed\s+pass \(n=1000\/1000\): scripted pass/);

    const screen = await eventually(
      async () => {
        const text = tmux('capture-pane', '-p', '-t', 'watch');
        return text.includes('llmopt exited') ? text : undefined;
      },
      { what: 'the watch in tmux to end', timeoutMs: 60_000 },
    );
    expect(screen).toContain('llmopt exited 0');
    expect(screen).toMatch(/state\s+PROMOTED/);
    expect(screen).toMatch(/0\s+20%\s+2s\s+-\s+passed\s+pass/);
    expect(screen).toMatch(/1\s+50%\s+2s\s+-\s+passed\s+pass/);
    expect(screen).toMatch(/2\s+100%\s+2s\s+-\s+passed\s+pass/);
    expect(screen).toMatch(/versions\s+v1 → v\d+/);
    // Redrawn in place: one view on the screen, not one per poll.
    expect(screen.match(/STAGE\s+CANARY/g)).toHaveLength(1);
  });
});
