/** What every analyzer reads: the cycle's aggregates, grouped and merged once. */
import type { TargetPolicy } from '../model';
import type { WindowAggregate } from '../aggregate';
import type { ArmSummary } from '../intelligence/summary';
import type { AnalyzerName, Evidence, Finding, Severity } from '../intelligence/types';

export interface AnalyzerContext {
  target: string;
  policy: TargetPolicy;
  now: string;
  aggregates: readonly WindowAggregate[];
  /** segment × arm → windows in time order. */
  groups: ReadonlyMap<string, readonly WindowAggregate[]>;
  /** segment → arm → merged summary. */
  summaries: ReadonlyMap<string, ReadonlyMap<string, ArmSummary>>;
  range: { from: string; to: string; count: number };
}

/** Windows of a series from the latest `recent` on: the part compared against the rest (the baseline). */
export function splitRecent<T>(windows: readonly T[], recent: number): { baseline: T[]; recent: T[] } {
  const cut = Math.max(0, windows.length - recent);
  return { baseline: windows.slice(0, cut), recent: windows.slice(cut) };
}

/**
 * The evidence of a finding: the windows it read (or their range, when the caller has it already, as
 * for the cycle's whole range) and its numbers.
 */
export function evidenceOf(
  windows: readonly WindowAggregate[] | Evidence['windows'],
  values: Record<string, number>,
  segment: string | null,
  arm: string | null,
): Evidence {
  return { segment, arm, windows: 'count' in windows ? { ...windows } : windowRange(windows), values };
}

/** Ranges by window array: a group's windows are quoted by several findings of several analyzers. */
const ranges = new WeakMap<readonly WindowAggregate[], Evidence['windows']>();

/**
 * First start, last end and number of distinct window starts: one pass when the windows come in time
 * order (a group's always do), a set of starts otherwise.
 */
function windowRange(windows: readonly WindowAggregate[]): Evidence['windows'] {
  const known = ranges.get(windows);
  if (known) return { ...known };
  let from = '';
  let to = '';
  let distinct = 0;
  let ordered = true;
  for (let i = 0; i < windows.length; i++) {
    const w = windows[i]!;
    if (from === '' || w.window_start < from) from = w.window_start;
    if (w.window_end > to) to = w.window_end;
    if (i === 0 || w.window_start > windows[i - 1]!.window_start) distinct++;
    else if (w.window_start < windows[i - 1]!.window_start) ordered = false;
  }
  const range = { from, to, count: ordered ? distinct : new Set(windows.map((w) => w.window_start)).size };
  ranges.set(windows, range);
  return { ...range };
}

export function finding(
  analyzer: AnalyzerName,
  code: string,
  severity: Severity,
  confidence: number,
  message: string,
  evidence: Evidence,
): Finding {
  return { analyzer, code, severity, confidence: Math.max(0, Math.min(1, confidence)), message, evidence };
}

/** One window of the target: all its arms and segments summed. */
export interface TargetWindow {
  start: string;
  end: string;
  count: number;
  cost: number;
  errors: number;
  bySegment: Record<string, number>;
}

/** Windows of all arms and segments summed per window start: the target's own series. */
export function targetSeries(aggregates: readonly WindowAggregate[]): TargetWindow[] {
  const m = new Map<string, TargetWindow>();
  for (const a of aggregates) {
    let e = m.get(a.window_start);
    if (!e) {
      e = { start: a.window_start, end: a.window_end, count: 0, cost: 0, errors: 0, bySegment: {} };
      m.set(a.window_start, e);
    }
    e.count += a.count;
    e.cost += a.cost_usd;
    e.errors += a.count - a.ok;
    e.bySegment[a.segment] = (e.bySegment[a.segment] ?? 0) + a.count;
  }
  return [...m.values()].sort((a, b) => (a.start < b.start ? -1 : 1));
}
