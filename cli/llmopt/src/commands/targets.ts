/** `llmopt targets`: list, get, create from a YAML/JSON file, delete. */
import type { Command } from 'commander';
import type { components } from '../api-types';
import { body, call } from '../client';
import { intOption, readDocument, usage, type GetCtx } from '../context';
import { emit, fields, table } from '../output';

type Target = components['schemas']['Target'];
type CreateTarget = components['schemas']['CreateTarget'];

const describeTarget = (t: Target): string =>
  [
    fields([
      ['name', t.name],
      ['description', t.description],
      ['segments', t.segments],
      ['created', t.created_at],
    ]),
    '',
    table(
      ['ARM', 'PROVIDER', 'MODEL', 'PROMPT'],
      t.arms.map((a) => [a.id, a.provider, a.model, `${a.prompt_template}@${a.prompt_version}`]),
    ),
  ].join('\n');

export function targetsCommand(program: Command, ctx: GetCtx): void {
  const targets = program.command('targets').description('targets: the LLM call sites being optimized');

  targets
    .command('list')
    .description('list targets')
    .option('--limit <n>', 'at most this many')
    .option('--cursor <cursor>', 'the next_cursor of a previous page')
    .action(async (o: { limit?: string; cursor?: string }) => {
      const { api, out } = ctx();
      const page = await body(
        api.GET('/v1/targets', {
          params: { query: { limit: intOption('--limit', o.limit), cursor: o.cursor } },
        }),
      );
      emit(out, page, (p) =>
        table(
          ['NAME', 'ARMS', 'SEGMENTS', 'CREATED'],
          p.items.map((t) => [t.name, t.arms.map((a) => a.id), t.segments, t.created_at]),
        ),
      );
    });

  targets
    .command('get <target>')
    .description('show a target, its arms and segments')
    .action(async (target: string) => {
      const { api, out } = ctx();
      emit(
        out,
        await body(api.GET('/v1/targets/{target}', { params: { path: { target } } })),
        describeTarget,
      );
    });

  targets
    .command('create')
    .description('create a target from a YAML or JSON file (name, arms, segments, policy)')
    .requiredOption('-f, --file <file>', 'the target as YAML or JSON (- for stdin)')
    .action(async (o: { file: string }) => {
      const { api, out } = ctx();
      const doc = readDocument(o.file);
      if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
        throw usage(`${o.file} must hold one object (name, arms, segments, policy)`);
      const created = await body(api.POST('/v1/targets', { body: doc as CreateTarget }));
      emit(out, created, (t) => `created target ${t.name}\n\n${describeTarget(t)}`);
    });

  targets
    .command('delete <target>')
    .description('delete a target and its routing configs')
    .action(async (target: string) => {
      const { api, out } = ctx();
      await call(api.DELETE('/v1/targets/{target}', { params: { path: { target } } }));
      emit(out, { deleted: target }, () => `deleted target ${target}`);
    });
}
