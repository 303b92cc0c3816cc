/** Plain-language explanations with their numbers, one sentence per fact. */
import type { Estimate, Weights } from '../model';
import type { Candidate } from './types';

export const pct = (x: number, digits = 1): string => `${(x * 100).toFixed(digits)}%`;
export const signedPct = (x: number, digits = 1): string =>
  `${x >= 0 ? '+' : ''}${(x * 100).toFixed(digits)}%`;
export const usd = (x: number): string => `$${x < 0.01 ? x.toPrecision(3) : x.toFixed(4)}`;

export function estimate(name: string, e: Estimate | null): string | null {
  if (!e) return null;
  return e.low === e.high
    ? `${name} ${signedPct(e.relative)}`
    : `${name} ${signedPct(e.relative)} (90% interval ${signedPct(e.low)} to ${signedPct(e.high)})`;
}

export function weightsText(w: Weights | null): string {
  if (!w) return 'unchanged';
  return Object.entries(w)
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([arm, v]) => `${arm} ${(v / 100).toFixed(v % 100 === 0 ? 0 : 2)}%`)
    .join(', ');
}

/** The explanation of a change the coordinator approved. */
export function explainChange(c: Candidate, stages: readonly number[]): string {
  const impact = [
    estimate('cost', c.expected_impact.cost),
    estimate('latency', c.expected_impact.latency),
    estimate('quality', c.expected_impact.quality),
  ]
    .filter((x): x is string => x !== null)
    .join('; ');
  const move = c.canary_arm
    ? `Move segment ${c.segment} from ${c.baseline_arm ?? 'its current arms'} to ${c.canary_arm}`
    : `Change ${c.segment}`;
  const serving = c.serving_change
    ? ` Set ${c.serving_change.field} of ${c.serving_change.arm} from ${c.serving_change.from ?? 'unset'} to ${c.serving_change.to}.`
    : '';
  const finalShare = c.canary_arm && c.to_weights ? (c.to_weights[c.canary_arm] ?? 0) : 0;
  const steps = stages
    .filter((bps) => bps < finalShare)
    .map((bps) => pct(bps / 10000, bps % 100 === 0 ? 0 : 2));
  const canary = c.to_weights
    ? ` Roll out ${steps.length ? `as a canary through ${steps.join(' → ')} ` : ''}to ${weightsText(c.to_weights)}.`
    : '';
  return `${move} (${c.strategy}): ${c.rationale}. Expected ${impact || 'impact unknown'}; confidence ${pct(c.confidence)}.${serving}${canary}`;
}
