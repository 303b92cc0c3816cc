/**
 * Replay tests: every history recorded from a real run and committed under tests/histories/ must replay
 * against today's workflow code. A behaviour change made without patched() fails here in CI.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/process';
import { WORKFLOWS_PATH } from '../helpers/system';

const HISTORIES = join(ROOT, 'tests', 'histories');
const files = readdirSync(HISTORIES)
  .filter((f) => f.endsWith('.json'))
  .sort();

function load(file: string) {
  return historyFromJSON(JSON.parse(readFileSync(join(HISTORIES, file), 'utf8')));
}

describe('replay of recorded histories', () => {
  it('has a recorded history of the optimization cycle', () => {
    expect(files.some((f) => f.startsWith('optimization-cycle'))).toBe(true);
  });

  it.each(files)('%s replays against the current workflow code', async (file) => {
    await expect(
      Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH, replayName: file }, load(file)),
    ).resolves.toBeUndefined();
  });

  it('detects a determinism violation when the code changes without patched()', async () => {
    const file = files.find((f) => f.startsWith('optimization-cycle'))!;
    const changed = fileURLToPath(new URL('./fixtures/reordered-cycle.ts', import.meta.url));
    await expect(
      Worker.runReplayHistory({ workflowsPath: changed, replayName: file }, load(file)),
    ).rejects.toBeInstanceOf(DeterminismViolationError);
  });
});
