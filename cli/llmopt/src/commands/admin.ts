/** `llmopt admin` (stats, cache-flush) and `llmopt whoami`: the operator's view of the system and of oneself. */
import type { Command } from 'commander';
import { body } from '../client';
import type { GetCtx } from '../context';
import { emit, fields } from '../output';

export function adminCommand(program: Command, ctx: GetCtx): void {
  const admin = program.command('admin').description('administration: figures that matter, cache flush');

  admin
    .command('stats')
    .description('targets, events today, open rollouts, cycle backlog, dead letters')
    .action(async () => {
      const { api, out } = ctx();
      emit(out, await body(api.GET('/v1/admin/stats')), (s) =>
        fields([
          ['targets', s.targets],
          ['events today', s.events.today],
          ['events last hour', `${s.events.last_hour} (${s.events.per_second_last_hour.toFixed(2)}/s)`],
          ['open rollouts', s.open_rollouts],
          ['awaiting decisions', s.awaiting_decisions],
          ['cycle backlog', s.cycle_backlog ?? 'unknown (Temporal visibility did not answer)'],
          ['dead letters', `${s.dead_letters.ingest} ingest, ${s.dead_letters.webhooks} webhook`],
          ['at', s.at],
        ]),
      );
    });

  admin
    .command('cache-flush')
    .description('empty every cache tier on every replica')
    .action(async () => {
      const { api, out } = ctx();
      emit(
        out,
        await body(api.POST('/v1/admin/cache/flush')),
        (f) => `flushed every process's caches and ${f.second_tier_keys} shared entries at ${f.flushed_at}`,
      );
    });
}

export function whoamiCommand(program: Command, ctx: GetCtx): void {
  program
    .command('whoami')
    .description('who the API takes you for: identity, roles and permissions')
    .action(async () => {
      const { api, out } = ctx();
      emit(out, await body(api.GET('/v1/me')), (m) =>
        fields([
          ['actor', m.actor],
          ['id', m.id],
          ['roles', m.roles],
          ['permissions', m.permissions],
        ]),
      );
    });
}
