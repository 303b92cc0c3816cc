/**
 * With tracing on, the workers bundle the OpenTelemetry workflow interceptors into the workflow code
 * (platform/tracing.ts). Histories recorded without them, by runs still open when tracing is turned on,
 * must replay against that bundle as they do against the plain one (tests/replay/replay.test.ts): the
 * interceptors add headers and spans, never commands.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflowCode, Worker, type WorkflowBundle } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { workflowTracingModule } from '../../platform/tracing';
import { ROOT } from '../helpers/process';
import { WORKFLOWS_PATH } from '../helpers/system';

const HISTORIES = join(ROOT, 'tests', 'histories');
const files = readdirSync(HISTORIES)
  .filter((f) => f.endsWith('.json'))
  .sort();

describe('replay of recorded histories with the tracing interceptors bundled', () => {
  let workflowBundle: WorkflowBundle;
  const exported: string[] = [];
  beforeAll(async () => {
    workflowBundle = await bundleWorkflowCode({
      workflowsPath: WORKFLOWS_PATH,
      workflowInterceptorModules: [workflowTracingModule()],
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
    });
  }, 120_000);

  it.each(files)('%s replays', async (file) => {
    const history = historyFromJSON(JSON.parse(readFileSync(join(HISTORIES, file), 'utf8')));
    await expect(
      Worker.runReplayHistory(
        {
          workflowBundle,
          replayName: file,
          // The sink the interceptors export workflow spans through; a replay exports none.
          sinks: {
            exporter: {
              export: {
                fn: (_info, spans: { name: string }[]) => {
                  exported.push(...spans.map((s) => s.name));
                },
              },
            },
          },
        },
        history,
      ),
    ).resolves.toBeUndefined();
  });

  it('exports no span while replaying', () => {
    expect(exported).toEqual([]);
  });
});
