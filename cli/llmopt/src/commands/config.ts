/** `llmopt config`: a target's routing config: get, history, diff, set (with If-Match), revert. */
import type { Command } from 'commander';
import type { components } from '../api-types';
import { body, call, type Api } from '../client';
import { intOption, readDocument, usage, type GetCtx } from '../context';
import { emit, fields, pct, table, weightsLine } from '../output';

type RoutingConfig = components['schemas']['RoutingConfig'];

interface SegmentOption {
  segment: string;
}

const showConfig = (c: RoutingConfig & { etag?: string | null }): string =>
  fields([
    ['target', `${c.target}/${c.segment}`],
    ['version', c.version],
    ['etag', c.etag],
    ['weights', weightsLine(c.weights)],
    ['rollout', c.rollout_id],
    ['reason', c.reason],
    ['created', c.created_at],
  ]);

async function current(api: Api, target: string, segment: string) {
  const { data, response } = await call(
    api.GET('/v1/targets/{target}/config', { params: { path: { target }, query: { segment } } }),
  );
  return { ...data, etag: response.headers.get('etag') };
}

async function version(api: Api, target: string, segment: string, v: number): Promise<RoutingConfig> {
  return body(
    api.GET('/v1/targets/{target}/config/versions/{version}', {
      params: { path: { target, version: v }, query: { segment } },
    }),
  );
}

/**
 * Weights from `arm=bps` pairs (basis points, 10000 = all traffic) or `arm=N%`, or from a YAML/JSON
 * file holding `{arm: bps}` or `{weights: {arm: bps}}`.
 */
export function parseWeights(pairs: string[], file?: string): Record<string, number> {
  if (file) {
    const doc = readDocument(file) as Record<string, unknown> | null;
    const w = (doc && typeof doc.weights === 'object' ? doc.weights : doc) as Record<string, number> | null;
    if (!w || typeof w !== 'object') throw usage(`${file} must hold {arm: basis points}`);
    return w;
  }
  if (pairs.length === 0)
    throw usage('give weights as arm=bps (10000 = all traffic) or arm=N%, or -f <file>');
  const weights: Record<string, number> = {};
  for (const p of pairs) {
    const m = /^([^=]+)=(\d+(?:\.\d+)?)(%?)$/.exec(p);
    if (!m) throw usage(`"${p}" is not arm=bps or arm=N%`);
    weights[m[1]!] = m[3] ? Math.round(Number(m[2]) * 100) : Number(m[2]);
  }
  return weights;
}

/** Per arm: basis points before and after. */
function diffRows(from: RoutingConfig, to: RoutingConfig): string[][] {
  const arms = [...new Set([...Object.keys(from.weights), ...Object.keys(to.weights)])].sort();
  return arms.map((arm) => {
    const a = from.weights[arm] ?? 0;
    const b = to.weights[arm] ?? 0;
    const d = b - a;
    return [arm, pct(a), pct(b), d === 0 ? '=' : `${d > 0 ? '+' : '-'}${pct(Math.abs(d))}`];
  });
}

async function put(
  api: Api,
  target: string,
  segment: string,
  weights: Record<string, number>,
  reason: string | undefined,
  ifMatch: string,
) {
  const { data, response } = await call(
    api.PUT('/v1/targets/{target}/config', {
      params: { path: { target }, query: { segment }, header: { 'if-match': ifMatch } },
      body: { weights, ...(reason ? { reason } : {}) },
    }),
  );
  return { ...data, etag: response.headers.get('etag') };
}

export function configCommand(program: Command, ctx: GetCtx): void {
  const config = program.command('config').description("a target's routing config (arm weights, versioned)");
  const seg = (c: Command) => c.option('-s, --segment <segment>', 'the segment', 'default');

  seg(config.command('get <target>'))
    .description('the routing config served now, with its ETag')
    .action(async (target: string, o: SegmentOption) => {
      const { api, out } = ctx();
      emit(out, await current(api, target, o.segment), showConfig);
    });

  seg(config.command('history <target>'))
    .description('every version, newest first')
    .option('--limit <n>', 'at most this many')
    .action(async (target: string, o: SegmentOption & { limit?: string }) => {
      const { api, out } = ctx();
      const page = await body(
        api.GET('/v1/targets/{target}/config/history', {
          params: { path: { target }, query: { segment: o.segment, limit: intOption('--limit', o.limit) } },
        }),
      );
      emit(out, page, (p) =>
        table(
          ['VERSION', 'CREATED', 'WEIGHTS', 'ROLLOUT', 'REASON'],
          p.items.map((c) => [c.version, c.created_at, weightsLine(c.weights), c.rollout_id, c.reason]),
        ),
      );
    });

  seg(config.command('diff <target> [from] [to]'))
    .description('what changed between two versions (default: the one before the current, and the current)')
    .action(
      async (target: string, fromArg: string | undefined, toArg: string | undefined, o: SegmentOption) => {
        const { api, out } = ctx();
        const to = toArg
          ? await version(api, target, o.segment, intOption('to', toArg)!)
          : await current(api, target, o.segment);
        const fromVersion = fromArg ? intOption('from', fromArg)! : to.version - 1;
        if (fromVersion < 1)
          throw usage(`${target}/${o.segment} has only version ${to.version}: nothing to compare`);
        const from = await version(api, target, o.segment, fromVersion);
        const rows = diffRows(from, to);
        emit(
          out,
          {
            target,
            segment: o.segment,
            from: from.version,
            to: to.version,
            arms: rows.map(([arm, a, b, d]) => ({ arm, from: a, to: b, change: d })),
          },
          () =>
            `v${from.version} → v${to.version}\n${table(['ARM', `V${from.version}`, `V${to.version}`, 'CHANGE'], rows)}`,
        );
      },
    );

  seg(config.command('set <target> [weights...]'))
    .description('set the weights (arm=bps or arm=N%), refused if the config changed since the ETag you read')
    .option('-f, --file <file>', 'weights from a YAML/JSON file')
    .option('--reason <text>', 'why (kept in the history)')
    .option('--if-match <etag>', 'the ETag you read (default: the current one, read now)')
    .action(
      async (
        target: string,
        pairs: string[],
        o: SegmentOption & { file?: string; reason?: string; ifMatch?: string },
      ) => {
        const { api, out } = ctx();
        const weights = parseWeights(pairs, o.file);
        const etag = o.ifMatch ?? (await current(api, target, o.segment)).etag ?? '';
        const saved = await put(api, target, o.segment, weights, o.reason, etag);
        emit(out, saved, (c) => `${target}/${o.segment} is now v${c.version}\n${showConfig(c)}`);
      },
    );

  seg(config.command('revert <target> <version>'))
    .description('serve an earlier version again (written as a new version; history stays)')
    .option('--reason <text>', 'why')
    .action(async (target: string, v: string, o: SegmentOption & { reason?: string }) => {
      const { api, out } = ctx();
      const old = await version(api, target, o.segment, intOption('version', v)!);
      const now = await current(api, target, o.segment);
      const saved = await put(
        api,
        target,
        o.segment,
        old.weights,
        o.reason ?? `revert to v${old.version}`,
        now.etag ?? '',
      );
      emit(
        out,
        saved,
        (c) =>
          `${target}/${o.segment} serves v${old.version}'s weights again as v${c.version}\n${showConfig(c)}`,
      );
    });
}
