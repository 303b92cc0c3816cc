/** What commands print: JSON or YAML for scripts (`-o json|yaml`), small aligned tables for people. */
import { stringify } from 'yaml';

export type Format = 'table' | 'json' | 'yaml';
export const FORMATS: readonly Format[] = ['table', 'json', 'yaml'];

export interface Out {
  format: Format;
  write(text: string): void;
}

export const stdoutOut = (format: Format): Out => ({
  format,
  write: (text) => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
});

/** Prints `data` as JSON or YAML, or as the table `render` draws of it. */
export function emit<T>(out: Out, data: T, render: (data: T) => string): void {
  if (out.format === 'json') out.write(JSON.stringify(data, null, 2));
  else if (out.format === 'yaml') out.write(stringify(data));
  else out.write(render(data));
}

/** Terminal columns a string takes (code points; the CLI prints no wide characters and no colours). */
const width = (s: string): number => [...s].length;

/** Columns left-aligned under their headers, two spaces apart. */
export function table(headers: string[], rows: unknown[][]): string {
  if (rows.length === 0) return '(none)';
  const cells = [headers, ...rows.map((r) => r.map(cell))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => width(r[i] ?? ''))));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i]! - width(c))))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `key  value` lines, keys aligned. */
export function fields(pairs: [string, unknown][]): string {
  const w = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(w)}  ${cell(v)}`).join('\n');
}

export function cell(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-';
  if (Array.isArray(v)) return v.map(cell).join(',');
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v) ?? '';
}

const BARS = '▁▂▃▄▅▆▇█';

/** A unicode sparkline of the values, scaled between their minimum and maximum; a gap for no value. */
export function sparkline(values: (number | null | undefined)[]): string {
  const known = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (known.length === 0) return ' '.repeat(values.length);
  const lo = Math.min(...known);
  const span = Math.max(...known) - lo;
  return values
    .map((v) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) return ' ';
      return BARS[span === 0 ? 3 : Math.round(((v - lo) / span) * (BARS.length - 1))]!;
    })
    .join('');
}

/** Basis points as a percentage: 2000 → "20%", 125 → "1.25%". */
export const pct = (bps: number): string => `${Number((bps / 100).toFixed(2))}%`;

/** Weights in basis points as `big 80% · small 20%`. */
export const weightsLine = (w: Record<string, number> | null | undefined): string =>
  w
    ? Object.entries(w)
        .map(([arm, bps]) => `${arm} ${pct(bps)}`)
        .join(' · ')
    : '-';
