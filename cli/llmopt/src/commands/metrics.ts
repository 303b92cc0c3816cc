/** `llmopt metrics <target>`: a target's windows per segment and arm as a small table with sparklines. */
import type { Command } from 'commander';
import type { components } from '../api-types';
import { body } from '../client';
import { usage, type GetCtx } from '../context';
import { emit, sparkline, table } from '../output';

type Series = components['schemas']['MetricsSeries']['series'][number];
type Point = Series['points'][number];

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const fmt = (v: number | null | undefined, digits = 0, unit = ''): string =>
  v === null || v === undefined || !Number.isFinite(v) ? '-' : `${v.toFixed(digits)}${unit}`;

/** One row per series: totals over the range, and a sparkline per measure across its points. */
function seriesRow(s: Series): unknown[] {
  const p = s.points;
  const count = sum(p.map((x) => x.count));
  const errors = count ? sum(p.map((x) => x.count - x.ok)) / count : null;
  const qualityN = sum(p.map((x) => x.quality.count));
  const quality = qualityN ? sum(p.map((x) => (x.quality.mean ?? 0) * x.quality.count)) / qualityN : null;
  const p95 = (x: Point) => x.latency.p95;
  return [
    `${s.segment}/${s.arm}`,
    count,
    sparkline(p.map((x) => x.count)),
    fmt(errors === null ? null : errors * 100, 1, '%'),
    fmt(Math.max(...p.map((x) => p95(x) ?? -Infinity)), 0, 'ms'),
    sparkline(p.map(p95)),
    fmt(quality, 3),
    `$${sum(p.map((x) => x.cost_usd)).toFixed(4)}`,
    sparkline(p.map((x) => x.cost_usd)),
  ];
}

/** A relative time (`15m`, `2h`, `1d`) before now, or an ISO timestamp as given. */
export function timeArg(value: string, now = Date.now()): string {
  const m = /^(\d+)(s|m|h|d)$/.exec(value);
  if (m) {
    const unit = { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 }[m[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now - Number(m[1]) * unit).toISOString();
  }
  if (Number.isNaN(Date.parse(value)))
    throw usage(`"${value}" is neither a duration (15m, 2h) nor an ISO time`);
  return new Date(value).toISOString();
}

export function metricsCommand(program: Command, ctx: GetCtx): void {
  program
    .command('metrics <target>')
    .description("a target's traffic, errors, latency, quality and cost per segment and arm, with sparklines")
    .option('-s, --segment <segment>', 'this segment only')
    .option('--arm <arm>', 'this arm only')
    .option('--since <when>', 'start: a duration before now (15m, 2h, 1d) or an ISO time', '1h')
    .option('--until <when>', 'end: a duration before now or an ISO time (default now)')
    .option('--step <step>', 'bucket width (1m, 5m, 1h)', '1m')
    .action(
      async (
        target: string,
        o: { segment?: string; arm?: string; since: string; until?: string; step: string },
      ) => {
        const { api, out } = ctx();
        const data = await body(
          api.GET('/v1/targets/{target}/metrics', {
            params: {
              path: { target },
              query: {
                segment: o.segment,
                arm: o.arm,
                from: timeArg(o.since),
                ...(o.until ? { to: timeArg(o.until) } : {}),
                step: o.step,
              },
            },
          }),
        );
        emit(out, data, (d) =>
          [
            `${d.target}  ${d.from} → ${d.to}  (step ${d.step_ms / 1000}s)`,
            table(
              ['SEGMENT/ARM', 'REQUESTS', '', 'ERRORS', 'P95 MAX', '', 'QUALITY', 'COST', ''],
              d.series.map(seriesRow),
            ),
          ].join('\n'),
        );
      },
    );
}
