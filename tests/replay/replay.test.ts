/**
 * Replay tests: every history recorded from a real run and committed under tests/histories/ must replay
 * against today's workflow code, bundled once for all of them (as sdk-typescript's test-replay does). A
 * behaviour change made without patched() fails here in CI; two deliberately reordered workflows prove
 * the check bites. How histories are recorded and when a patch retires: docs/workflows.md.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { DeterminismViolationError } from '@temporalio/workflow';
import { bundleWorkflowCode, Worker, type WorkflowBundle } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/process';
import { WORKFLOWS_PATH } from '../helpers/system';

const HISTORIES = join(ROOT, 'tests', 'histories');
const files = readdirSync(HISTORIES)
  .filter((f) => f.endsWith('.json'))
  .sort();

/**
 * Runs that must keep replaying: recorded by the function-shaped workflows, and (`.state-class`)
 * by the workflows as state classes, each with every patch marker of its time.
 */
const RECORDED = [
  'canary-rollout-promoted-with-messages',
  'canary-rollout-failed-stage',
  'canary-rollout-serving-rolled-back',
  'rollback-after-failed-stage',
  'health-watch-rolled-back',
  'optimization-cycle-approval-starts-rollout',
  'optimization-cycle-serving-rollout',
];
/**
 * For patches whose new branch no older recording takes, a history recorded on it (it holds the
 * patch's marker). docs/workflows.md lists every patch with its histories on either side.
 */
const NEW_BRANCHES: Record<string, string> = {
  'health-watch-after-promotion': 'canary-rollout-promoted-starts-health-watch.json',
  'exploration-applied': 'optimization-cycle-exploration-applied.json',
  'manual-revert-records-rollout': 'rollback-manual-revert.json',
  'cancelled-cycle-expires-decisions': 'optimization-cycle-cancelled-awaiting-approval.json',
  'local-first-delivery-attempt': 'notify-event-first-try-local.json',
};

const REQUIRED = [
  ...RECORDED.flatMap((name) => [`${name}.json`, `${name}.state-class.json`]),
  'optimization-cycle-two-segments.json',
  ...Object.values(NEW_BRANCHES),
];

function load(file: string) {
  return historyFromJSON(JSON.parse(readFileSync(join(HISTORIES, file), 'utf8')));
}

/** The patch ids of the markers a history recorded (patched() writes one per id taken). */
function patchesOf(file: string): string[] {
  const { events } = JSON.parse(readFileSync(join(HISTORIES, file), 'utf8')) as {
    events: {
      markerRecordedEventAttributes?: { details?: Record<string, { payloads?: { data: string }[] }> };
    }[];
  };
  return events.flatMap((e) =>
    Object.values(e.markerRecordedEventAttributes?.details ?? {}).flatMap((d) =>
      (d.payloads ?? []).map(
        (p) => (JSON.parse(Buffer.from(p.data, 'base64').toString('utf8')) as { id: string }).id,
      ),
    ),
  );
}

const bundle = (workflowsPath: string) =>
  bundleWorkflowCode({
    workflowsPath,
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
  });

describe('replay of recorded histories', () => {
  let workflowBundle: WorkflowBundle;
  beforeAll(async () => {
    workflowBundle = await bundle(WORKFLOWS_PATH);
  }, 120_000);

  it('has every required recorded history', () => {
    expect(files).toEqual(expect.arrayContaining(REQUIRED));
  });

  it.each(Object.entries(NEW_BRANCHES))('patch %s has a history of its new branch: %s', (patch, file) => {
    expect(patchesOf(file)).toContain(patch);
  });

  it.each(files)('%s replays against the current workflow code', async (file) => {
    await expect(
      Worker.runReplayHistory({ workflowBundle, replayName: file }, load(file)),
    ).resolves.toBeUndefined();
  });

  it.each([
    ['optimization-cycle-two-segments.json', './fixtures/reordered-cycle.ts'],
    ['canary-rollout-promoted-with-messages.json', './fixtures/reordered-rollout.ts'],
  ])(
    'detects a determinism violation when %s meets code changed without patched()',
    async (file, fixture) => {
      const changed = await bundle(fileURLToPath(new URL(fixture, import.meta.url)));
      await expect(
        Worker.runReplayHistory({ workflowBundle: changed, replayName: file }, load(file)),
      ).rejects.toBeInstanceOf(DeterminismViolationError);
    },
  );
});
