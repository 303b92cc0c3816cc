/** `llmopt keys` (create, list, revoke) and `llmopt audit`: who may do what, and who did what. */
import type { Command } from 'commander';
import type { components } from '../api-types';
import { body } from '../client';
import { intOption, usage, type GetCtx } from '../context';
import { emit, fields, table } from '../output';
import { timeArg } from './metrics';

type Role = components['schemas']['CreateApiKey']['roles'][number];
const ROLES: readonly Role[] = ['admin', 'operator', 'analyst', 'ingest'];

const collect = (v: string, acc: string[]) => [...acc, v];

export function keysCommand(program: Command, ctx: GetCtx): void {
  const keys = program.command('keys').description('API keys');

  keys
    .command('create <name>')
    .description('create a key (shown once)')
    .option('-r, --role <role>', `a role: ${ROLES.join(', ')} (repeat)`, collect, [])
    .option('--expires <when>', 'when it stops working (ISO time)')
    .action(async (name: string, o: { role: string[]; expires?: string }) => {
      const { api, out } = ctx();
      if (o.role.length === 0) throw usage(`give at least one --role (${ROLES.join(', ')})`);
      const bad = o.role.find((r) => !ROLES.includes(r as Role));
      if (bad) throw usage(`--role ${bad} is not one of ${ROLES.join(', ')}`);
      const k = await body(
        api.POST('/v1/api-keys', {
          body: {
            name,
            roles: o.role as Role[],
            ...(o.expires ? { expires_at: new Date(o.expires).toISOString() } : {}),
          },
        }),
      );
      emit(out, k, (x) =>
        [
          fields([
            ['id', x.id],
            ['name', x.name],
            ['roles', x.roles],
            ['key', x.key],
          ]),
          '',
          'Store the key now: it is not shown again.',
        ].join('\n'),
      );
    });

  keys
    .command('list')
    .description('keys (never their secret)')
    .option('--all', 'revoked ones too')
    .option('--limit <n>', 'at most this many')
    .action(async (o: { all?: boolean; limit?: string }) => {
      const { api, out } = ctx();
      const page = await body(
        api.GET('/v1/api-keys', {
          params: {
            query: { include_revoked: o.all ? 'true' : undefined, limit: intOption('--limit', o.limit) },
          },
        }),
      );
      emit(out, page, (p) =>
        table(
          ['ID', 'PREFIX', 'NAME', 'ROLES', 'LAST USED', 'REVOKED'],
          p.items.map((k) => [k.id, k.prefix, k.name, k.roles, k.last_used_at, k.revoked_at]),
        ),
      );
    });

  keys
    .command('revoke <id>')
    .description('revoke a key (every replica refuses it within a second)')
    .action(async (id: string) => {
      const { api, out } = ctx();
      const k = await body(api.DELETE('/v1/api-keys/{id}', { params: { path: { id } } }));
      emit(out, k, (x) => `revoked ${x.name} (${x.prefix})`);
    });
}

export function auditCommand(program: Command, ctx: GetCtx): void {
  program
    .command('audit')
    .description('the audit log, newest first')
    .option('--actor <actor>', 'key:<prefix>, jwt:<subject> or ip:<address>')
    .option('--action <action>', 'e.g. "PUT /v1/targets/{target}/config"')
    .option('--resource <path>', 'the path acted on')
    .option('--outcome <outcome>', 'success, denied or failed')
    .option('--since <when>', 'a duration before now (1h, 2d) or an ISO time')
    .option('--until <when>', 'a duration before now or an ISO time')
    .option('--limit <n>', 'at most this many', '50')
    .action(
      async (o: {
        actor?: string;
        action?: string;
        resource?: string;
        outcome?: string;
        since?: string;
        until?: string;
        limit: string;
      }) => {
        const { api, out } = ctx();
        const page = await body(
          api.GET('/v1/audit', {
            params: {
              query: {
                actor: o.actor,
                action: o.action,
                resource: o.resource,
                outcome: o.outcome as never,
                ...(o.since ? { since: timeArg(o.since) } : {}),
                ...(o.until ? { until: timeArg(o.until) } : {}),
                limit: intOption('--limit', o.limit),
              },
            },
          }),
        );
        emit(out, page, (p) =>
          table(
            ['AT', 'ACTOR', 'ACTION', 'RESOURCE', 'OUTCOME', 'STATUS'],
            p.items.map((e) => [e.at, e.actor, e.action, e.resource, e.outcome, e.status]),
          ),
        );
      },
    );
}
