/** `llmopt webhooks` and `llmopt integrations`: where events go (list, set, test). */
import type { Command } from 'commander';
import type { components } from '../api-types';
import { body } from '../client';
import { intOption, readDocument, usage, type GetCtx } from '../context';
import { CliError, EXIT } from '../errors';
import { emit, fields, table } from '../output';

type CreateWebhook = components['schemas']['CreateWebhookSubscription'];
type Kind = components['schemas']['Integration']['kind'];
type PutIntegration = components['schemas']['PutIntegration'];

const collect = (v: string, acc: string[]) => [...acc, v];

/** `name=value` pairs as an object (values parsed as YAML scalars: numbers and booleans stay typed). */
function pairs(list: string[], what: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of list) {
    const i = p.indexOf('=');
    if (i < 1) throw usage(`${what} "${p}" is not name=value`);
    const raw = p.slice(i + 1);
    out[p.slice(0, i)] = /^(true|false|-?\d+(\.\d+)?)$/.test(raw) ? (JSON.parse(raw) as unknown) : raw;
  }
  return out;
}

interface WebhookFlags {
  file?: string;
  url?: string;
  event: string[];
  target: string[];
  description?: string;
  active?: boolean;
}

function webhookBody(o: WebhookFlags): Partial<CreateWebhook> {
  const fromFile = o.file ? (readDocument(o.file) as Partial<CreateWebhook>) : {};
  return {
    ...fromFile,
    ...(o.url ? { url: o.url } : {}),
    ...(o.event.length ? { events: o.event as CreateWebhook['events'] } : {}),
    ...(o.target.length ? { targets: o.target } : {}),
    ...(o.description !== undefined ? { description: o.description } : {}),
    ...(o.active !== undefined ? { active: o.active } : {}),
  };
}

export function webhooksCommand(program: Command, ctx: GetCtx): void {
  const webhooks = program.command('webhooks').description('signed webhook subscriptions');

  webhooks
    .command('list')
    .description('subscriptions')
    .option('--limit <n>', 'at most this many')
    .action(async (o: { limit?: string }) => {
      const { api, out } = ctx();
      const page = await body(
        api.GET('/v1/webhooks', { params: { query: { limit: intOption('--limit', o.limit) } } }),
      );
      emit(out, page, (p) =>
        table(
          ['ID', 'URL', 'EVENTS', 'TARGETS', 'ACTIVE'],
          p.items.map((w) => [
            w.id,
            w.url,
            w.events,
            w.targets.length ? w.targets : 'all',
            w.disabled_reason ?? w.active,
          ]),
        ),
      );
    });

  webhooks
    .command('set [id]')
    .description('create a subscription (no id; its signing secret is shown once) or change one')
    .option('-f, --file <file>', 'the subscription as YAML or JSON')
    .option('--url <url>', 'where deliveries are POSTed')
    .option('--event <event>', 'an event to deliver (repeat; * for all)', collect, [])
    .option('--target <target>', 'only events of this target (repeat; default all)', collect, [])
    .option('--description <text>', 'what it is for')
    .option('--active', 'deliver')
    .option('--no-active', 'stop delivering')
    .action(async (id: string | undefined, o: WebhookFlags) => {
      const { api, out } = ctx();
      const b = webhookBody(o);
      if (id) {
        const w = await body(api.PATCH('/v1/webhooks/{id}', { params: { path: { id } }, body: b }));
        return emit(
          out,
          w,
          (x) =>
            `updated webhook ${x.id}\n${fields([
              ['url', x.url],
              ['events', x.events],
              ['active', x.active],
            ])}`,
        );
      }
      if (!b.url || !b.events)
        throw usage('a new subscription needs --url and at least one --event (or -f <file>)');
      const w = await body(api.POST('/v1/webhooks', { body: b as CreateWebhook }));
      emit(out, w, (x) =>
        [
          `created webhook ${x.id}`,
          fields([
            ['url', x.url],
            ['events', x.events],
            ['secret', x.secret],
          ]),
          '',
          'Store the secret now: it is not shown again.',
        ].join('\n'),
      );
    });
}

export function integrationsCommand(program: Command, ctx: GetCtx): void {
  const integrations = program
    .command('integrations')
    .description('Slack, GitHub, Jira and Anthropic settings');

  integrations
    .command('list')
    .description('every integration, with which secrets are set (never their values)')
    .action(async () => {
      const { api, out } = ctx();
      const list = await body(api.GET('/v1/integrations'));
      emit(out, list, (l) =>
        table(
          ['KIND', 'ENABLED', 'SETTINGS', 'SECRETS SET', 'UPDATED'],
          l.items.map((i) => [i.kind, i.enabled, Object.keys(i.settings), i.secrets_set, i.updated_at]),
        ),
      );
    });

  integrations
    .command('set <kind>')
    .description('configure slack, github, jira or anthropic')
    .option('-f, --file <file>', 'enabled, settings and secrets as YAML or JSON')
    .option('--set <name=value>', 'a setting (repeat)', collect, [])
    .option('--secret <name=value>', 'a secret (repeat; stored sealed, never shown again)', collect, [])
    .option('--disable', 'turn it off')
    .action(
      async (kind: string, o: { file?: string; set: string[]; secret: string[]; disable?: boolean }) => {
        const { api, out } = ctx();
        const fromFile = o.file ? (readDocument(o.file) as PutIntegration) : ({} as Partial<PutIntegration>);
        const b: PutIntegration = {
          enabled: o.disable ? false : (fromFile.enabled ?? true),
          settings: { ...fromFile.settings, ...pairs(o.set, '--set') },
          secrets: { ...fromFile.secrets, ...(pairs(o.secret, '--secret') as Record<string, string>) },
        };
        const i = await body(
          api.PUT('/v1/integrations/{kind}', { params: { path: { kind: kind as Kind } }, body: b }),
        );
        emit(
          out,
          i,
          (x) =>
            `${x.kind}: ${x.enabled ? 'enabled' : 'disabled'}; secrets set: ${x.secrets_set.join(', ') || 'none'}`,
        );
      },
    );

  integrations
    .command('test <kind>')
    .description('send a test message through the real path and say what happened (exit 5 unless delivered)')
    .action(async (kind: string) => {
      const { api, out } = ctx();
      const r = await body(
        api.POST('/v1/integrations/{kind}/test', { params: { path: { kind: kind as Kind } } }),
      );
      emit(out, r, (x) =>
        fields([
          ['kind', x.kind],
          ['outcome', x.outcome],
          ['destination', x.destination],
          ['status', x.status],
          ['detail', x.detail],
          ['took', `${x.duration_ms} ms`],
        ]),
      );
      if (!r.delivered)
        throw new CliError(
          `${kind}: ${r.outcome}: ${r.detail}`,
          r.outcome === 'not_configured' ? EXIT.usage : EXIT.unavailable,
        );
    });
}
