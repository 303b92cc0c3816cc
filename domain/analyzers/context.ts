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

export function evidenceOf(
  windows: readonly WindowAggregate[],
  values: Record<string, number>,
  segment: string | null,
  arm: string | null,
): Evidence {
  const from = windows.reduce((a, w) => (a === '' || w.window_start < a ? w.window_start : a), '');
  const to = windows.reduce((a, w) => (w.window_end > a ? w.window_end : a), '');
  return {
    segment,
    arm,
    windows: { from, to, count: new Set(windows.map((w) => w.window_start)).size },
    values,
  };
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

/** Windows of all arms and segments summed per window start: the target's own series. */
export function targetSeries(aggregates: readonly WindowAggregate[]): {
  start: string;
  end: string;
  count: number;
  cost: number;
  errors: number;
  bySegment: Record<string, number>;
}[] {
  const m = new Map<
    string,
    {
      start: string;
      end: string;
      count: number;
      cost: number;
      errors: number;
      bySegment: Record<string, number>;
    }
  >();
  for (const a of aggregates) {
    const e = m.get(a.window_start) ?? {
      start: a.window_start,
      end: a.window_end,
      count: 0,
      cost: 0,
      errors: 0,
      bySegment: {},
    };
    e.count += a.count;
    e.cost += a.cost_usd;
    e.errors += a.count - a.ok;
    e.bySegment[a.segment] = (e.bySegment[a.segment] ?? 0) + a.count;
    m.set(a.window_start, e);
  }
  return [...m.values()].sort((a, b) => (a.start < b.start ? -1 : 1));
}
