/**
 * Replay guard for the rollout workflows: recorded runs of canaryRollout (promoted with every message,
 * and failed into a rollback), rollback, healthWatch, a cycle that starts a rollout after approval, and
 * a cycle that starts the before/after rollout of a serving change (rolled back) exist, and an
 * unversioned reordering of canaryRollout is caught as a determinism violation. (Every history under
 * tests/histories/ also replays in replay.test.ts.)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/process';
import { WORKFLOWS_PATH } from '../helpers/system';

const load = (file: string) =>
  historyFromJSON(JSON.parse(readFileSync(join(ROOT, 'tests', 'histories', file), 'utf8')));

const RECORDED = [
  'canary-rollout-promoted-with-messages.json',
  'canary-rollout-failed-stage.json',
  'rollback-after-failed-stage.json',
  'optimization-cycle-approval-starts-rollout.json',
  'health-watch-rolled-back.json',
  'optimization-cycle-serving-rollout.json',
  'canary-rollout-serving-rolled-back.json',
];

describe('replay of recorded rollout histories', () => {
  it.each(RECORDED)('%s replays against the current workflow code', async (file) => {
    await expect(
      Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH, replayName: file }, load(file)),
    ).resolves.toBeUndefined();
  });

  it('detects a determinism violation when canaryRollout changes without patched()', async () => {
    const changed = fileURLToPath(new URL('./fixtures/reordered-rollout.ts', import.meta.url));
    const file = 'canary-rollout-promoted-with-messages.json';
    await expect(
      Worker.runReplayHistory({ workflowsPath: changed, replayName: file }, load(file)),
    ).rejects.toBeInstanceOf(DeterminismViolationError);
  });
});
