/** `llmopt optimize`: optimization cycles: run (and --watch), list, get (and --watch), cancel. */
import type { Command } from 'commander';
import type { components } from '../api-types';
import { body, type Api } from '../client';
import { intOption, usage, type GetCtx } from '../context';
import { emit, fields, table } from '../output';
import { cycleExit, watch, type Snapshot } from '../watch';

type Cycle = components['schemas']['OptimizationState'];

const showCycle = (c: Cycle): string =>
  [
    fields([
      ['id', c.id],
      ['target', c.segment ? `${c.target}/${c.segment}` : c.target],
      ['status', c.cancel_requested && c.status === 'running' ? 'running (cancel requested)' : c.status],
      ['phase', c.phase],
      ['started', c.started_at],
      ['closed', c.closed_at],
      ['failure', c.failure],
      ['temporal', c.temporal_ui_url],
    ]),
    ...(c.decisions.length
      ? [
          '',
          table(
            ['DECISION', 'SEGMENT', 'KIND', 'STATUS', 'EXPLANATION'],
            c.decisions.map((d) => [d.id, d.segment, d.kind, d.status, d.explanation]),
          ),
        ]
      : []),
  ].join('\n');

async function cycleSnapshot(api: Api, id: string): Promise<Snapshot> {
  const c = await body(api.GET('/v1/optimizations/{id}', { params: { path: { id } } }));
  const ended = cycleExit(c.status);
  return {
    frame: showCycle(c),
    line: `${c.id}: ${c.status}${c.phase ? `, ${c.phase}` : ''}${c.decisions.length ? `, ${c.decisions.length} decision(s)` : ''}`,
    data: c,
    ...(ended !== undefined ? { ended } : {}),
  };
}

interface WatchFlags {
  watch?: boolean;
  interval: string;
}

export const watchFlags = (c: Command): Command =>
  c
    .option('-w, --watch', 'follow the run until it ends (exit 0 when it succeeds, 7 when it does not)')
    .option('--interval <seconds>', 'seconds between polls while watching', '1');

export function watchOptions(ctx: GetCtx, o: WatchFlags) {
  const seconds = Number(o.interval);
  if (!(seconds > 0)) throw usage('--interval must be a positive number of seconds');
  return { out: ctx().out, intervalMs: seconds * 1000, live: process.stdout.isTTY === true };
}

export function optimizeCommand(program: Command, ctx: GetCtx): void {
  const optimize = program.command('optimize').description('optimization cycles (analysis → decisions)');

  watchFlags(optimize.command('run <target>'))
    .description('start an optimization cycle for a target')
    .option('-s, --segment <segment>', 'decide for this segment only')
    .option('--idempotency-key <key>', 'a repeat with the same key answers the same cycle')
    .action(async (target: string, o: WatchFlags & { segment?: string; idempotencyKey?: string }) => {
      const { api, out } = ctx();
      const started = await body(
        api.POST('/v1/optimizations', {
          body: { target, ...(o.segment ? { segment: o.segment } : {}) },
          params: { header: o.idempotencyKey ? { 'Idempotency-Key': o.idempotencyKey } : {} },
        }),
      );
      if (!o.watch) return emit(out, started, (s) => `started ${s.id}`);
      if (out.format === 'table') out.write(`started ${started.id}`);
      process.exitCode = await watch(() => cycleSnapshot(api, started.id), watchOptions(ctx, o));
    });

  optimize
    .command('list')
    .description('cycles, newest first')
    .option('-t, --target <target>', 'of this target')
    .option('--limit <n>', 'at most this many')
    .option('--cursor <cursor>', 'the next_cursor of a previous page')
    .action(async (o: { target?: string; limit?: string; cursor?: string }) => {
      const { api, out } = ctx();
      const page = await body(
        api.GET('/v1/optimizations', {
          params: { query: { target: o.target, limit: intOption('--limit', o.limit), cursor: o.cursor } },
        }),
      );
      emit(out, page, (p) =>
        table(
          ['ID', 'TARGET', 'STATUS', 'TRIGGER', 'STARTED', 'CLOSED'],
          p.items.map((c) => [c.id, c.target, c.status, c.trigger, c.started_at, c.closed_at]),
        ),
      );
    });

  watchFlags(optimize.command('get <id>'))
    .description('a cycle: status, phase and its decisions')
    .action(async (id: string, o: WatchFlags) => {
      const { api, out } = ctx();
      if (o.watch) {
        process.exitCode = await watch(() => cycleSnapshot(api, id), watchOptions(ctx, o));
        return;
      }
      emit(out, await body(api.GET('/v1/optimizations/{id}', { params: { path: { id } } })), showCycle);
    });

  optimize
    .command('cancel <id>')
    .description('cancel a running cycle (rollouts it started go on)')
    .option('--reason <text>', 'why')
    .action(async (id: string, o: { reason?: string }) => {
      const { api, out } = ctx();
      const r = await body(
        api.POST('/v1/optimizations/{id}/cancel', {
          params: { path: { id } },
          body: o.reason ? { reason: o.reason } : {},
        }),
      );
      emit(out, r, () => `cancel requested for ${id}`);
    });
}
