/** `llmopt rollouts`: canary rollouts: list, get (and --watch), pause, resume, abort, approve, revert. */
import type { Command } from 'commander';
import type { components } from '../api-types';
import { body, type Api } from '../client';
import { intOption, type GetCtx } from '../context';
import { emit, fields, pct, table, weightsLine } from '../output';
import { rolloutExit, watch, type Snapshot } from '../watch';
import { watchFlags, watchOptions } from './optimize';

type Rollout = components['schemas']['Rollout'];
type RolloutDetail = components['schemas']['RolloutDetail'];

interface Verdict {
  stage?: number;
  attempt?: number;
  outcome?: string;
  reasons?: string[];
  samples?: { baseline?: number; canary?: number };
}

const ENDED = new Set(['promoted', 'rolled_back', 'aborted', 'failed']);

/** Where stage `i` stands given the rollout's state and current stage. */
function stageStatus(r: Rollout, i: number): string {
  if (i < r.current_stage) return 'passed';
  if (i > r.current_stage) return ENDED.has(r.state) ? '-' : 'pending';
  switch (r.state) {
    case 'promoted':
      return 'passed';
    case 'progressing':
      return 'baking';
    case 'awaiting_approval':
      return 'awaiting approval';
    case 'rolled_back':
    case 'failed':
      return 'failed';
    default:
      return r.state;
  }
}

function verdictCell(v: Verdict | undefined): string {
  if (!v) return '-';
  const samples = v.samples ? ` (n=${v.samples.canary ?? '?'}/${v.samples.baseline ?? '?'})` : '';
  const reason = v.reasons?.[0] ? `: ${v.reasons[0]}` : '';
  return `${v.outcome ?? '?'}${samples}${reason}`;
}

/** The live view: the rollout, then one row per stage with its status and latest verdict. */
export function rolloutView(r: RolloutDetail): string {
  const verdicts = r.verdicts as Verdict[];
  const last = (i: number) => verdicts.filter((v) => v.stage === i).at(-1);
  const flags = [
    r.workflow.paused ? 'paused' : '',
    r.workflow.awaiting_approval_stage !== null
      ? `stage ${r.workflow.awaiting_approval_stage} awaits approval`
      : '',
  ]
    .filter(Boolean)
    .join(', ');
  return [
    fields([
      ['rollout', r.id],
      ['target', `${r.target}/${r.segment}`],
      ['state', `${r.state.toUpperCase()}${flags ? ` (${flags})` : ''}`],
      ['canary', `${r.canary_arm} vs baseline ${r.baseline_arm}`],
      ['weights', weightsLine(r.weights)],
      ['versions', `v${r.from_version} → ${r.to_version === null ? '…' : `v${r.to_version}`}`],
      ['reason', r.reason],
      ['temporal', r.workflow.temporal_ui_url],
    ]),
    '',
    table(
      ['STAGE', 'CANARY', 'BAKE', 'APPROVAL', 'STATUS', 'VERDICT'],
      r.stages.map((s, i) => [
        i,
        pct(s.canary_bps),
        `${s.bake_seconds}s`,
        s.requires_approval ? 'required' : '-',
        stageStatus(r, i),
        verdictCell(last(i)),
      ]),
    ),
  ].join('\n');
}

async function rolloutSnapshot(api: Api, id: string): Promise<Snapshot> {
  const r = await body(api.GET('/v1/rollouts/{id}', { params: { path: { id } } }));
  const verdict = (r.verdicts as Verdict[]).at(-1);
  const stage = r.stages[r.current_stage];
  const ended = rolloutExit(r.state);
  return {
    frame: rolloutView(r),
    line: `${r.id}: ${r.state}, stage ${r.current_stage}${stage ? ` at ${pct(stage.canary_bps)}` : ''}${verdict ? `; last verdict ${verdict.outcome}` : ''}`,
    data: r,
    ...(ended !== undefined ? { ended } : {}),
  };
}

export function rolloutsCommand(program: Command, ctx: GetCtx): void {
  const rollouts = program.command('rollouts').description('canary rollouts of decisions');

  rollouts
    .command('list')
    .description('rollouts, newest first')
    .option('-t, --target <target>', 'of this target')
    .option('--state <state>', 'in this state (progressing, awaiting_approval, promoted, …)')
    .option('--limit <n>', 'at most this many')
    .action(async (o: { target?: string; state?: string; limit?: string }) => {
      const { api, out } = ctx();
      const page = await body(
        api.GET('/v1/rollouts', {
          params: {
            query: { target: o.target, state: o.state as never, limit: intOption('--limit', o.limit) },
          },
        }),
      );
      emit(out, page, (p) =>
        table(
          ['ID', 'TARGET', 'STATE', 'STAGE', 'CANARY', 'UPDATED'],
          p.items.map((r) => [
            r.id,
            `${r.target}/${r.segment}`,
            r.state,
            `${r.current_stage + 1}/${r.stages.length}`,
            r.canary_arm,
            r.updated_at,
          ]),
        ),
      );
    });

  watchFlags(rollouts.command('get <id>'))
    .description('a rollout: its stages and verdicts (--watch follows it live until it ends)')
    .action(async (id: string, o: { watch?: boolean; interval: string }) => {
      const { api, out } = ctx();
      if (o.watch) {
        process.exitCode = await watch(() => rolloutSnapshot(api, id), watchOptions(ctx, o));
        return;
      }
      emit(out, await body(api.GET('/v1/rollouts/{id}', { params: { path: { id } } })), rolloutView);
    });

  for (const verb of ['pause', 'resume', 'abort'] as const) {
    rollouts
      .command(`${verb} <id>`)
      .description(`${verb} a running rollout${verb === 'abort' ? ' (its config is restored)' : ''}`)
      .option('--reason <text>', 'why')
      .action(async (id: string, o: { reason?: string }) => {
        const { api, out } = ctx();
        const r = await body(
          api.POST(`/v1/rollouts/{id}/${verb}`, {
            params: { path: { id } },
            body: o.reason ? { reason: o.reason } : {},
          }),
        );
        emit(out, r, () => `${verb} accepted for ${id}`);
      });
  }

  rollouts
    .command('approve <id>')
    .description('approve the stage awaiting approval')
    .option('--stage <n>', 'the stage (0-based) you mean to approve; refused if another one waits')
    .action(async (id: string, o: { stage?: string }) => {
      const { api, out } = ctx();
      const stage = intOption('--stage', o.stage);
      const r = await body(
        api.POST('/v1/rollouts/{id}/approve', {
          params: { path: { id } },
          body: stage !== undefined ? { stage } : {},
        }),
      );
      emit(out, r, (a) => `approved stage ${a.stage} of ${id}`);
    });

  rollouts
    .command('revert <id>')
    .description('undo a promoted rollout: restore the config it started from')
    .option('--reason <text>', 'why')
    .action(async (id: string, o: { reason?: string }) => {
      const { api, out } = ctx();
      const r = await body(
        api.POST('/v1/rollouts/{id}/revert', {
          params: { path: { id } },
          body: o.reason ? { reason: o.reason } : {},
        }),
      );
      emit(out, r, (x) =>
        x.new_version !== null
          ? `reverted ${id}: v${x.restored_version} restored as v${x.new_version}`
          : `revert of ${id} started (${x.state})`,
      );
    });
}
