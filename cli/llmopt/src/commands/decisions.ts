/** `llmopt decisions`: what the cycles decided: list, approve, reject. */
import type { Command } from 'commander';
import { body } from '../client';
import { intOption, type GetCtx } from '../context';
import { emit, table } from '../output';

export function decisionsCommand(program: Command, ctx: GetCtx): void {
  const decisions = program.command('decisions').description('decisions of the optimization cycles');

  decisions
    .command('list')
    .description('decisions, newest first')
    .option('-t, --target <target>', 'of this target')
    .option('--status <status>', 'in this status (awaiting_approval, approved, applied, …)')
    .option('--kind <kind>', 'of this kind (model_switch, rate_limit, …)')
    .option('--limit <n>', 'at most this many')
    .action(async (o: { target?: string; status?: string; kind?: string; limit?: string }) => {
      const { api, out } = ctx();
      const page = await body(
        api.GET('/v1/decisions', {
          params: {
            query: {
              target: o.target,
              status: o.status as never,
              kind: o.kind as never,
              limit: intOption('--limit', o.limit),
            },
          },
        }),
      );
      emit(out, page, (p) =>
        table(
          ['ID', 'TARGET', 'KIND', 'STATUS', 'CREATED', 'EXPLANATION'],
          p.items.map((d) => [
            d.id,
            `${d.target}/${d.segment}`,
            d.kind,
            d.status,
            d.created_at,
            d.explanation,
          ]),
        ),
      );
    });

  for (const verb of ['approve', 'reject'] as const) {
    decisions
      .command(`${verb} <id>`)
      .description(
        verb === 'approve'
          ? 'approve a decision awaiting approval (its rollout starts)'
          : 'reject a decision awaiting approval',
      )
      .option('--reason <text>', 'why')
      .action(async (id: string, o: { reason?: string }) => {
        const { api, out } = ctx();
        const r = await body(
          api.POST(`/v1/decisions/{id}/${verb}`, {
            params: { path: { id } },
            body: o.reason ? { reason: o.reason } : {},
          }),
        );
        emit(out, r, () => `${verb === 'approve' ? 'approved' : 'rejected'} decision ${id}`);
      });
  }
}
