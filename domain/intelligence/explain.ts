/**
 * Plain-language explanations with their numbers, one sentence per fact. Each sentence must be true of
 * the decision it explains: "move" only when the segment's primary arm changes (an exploration re-spread
 * says it explores, with which arms and what share), and an arm without quality samples is described as
 * unknown, never with a posterior percentage that only its prior produced.
 */
import { TOTAL_BASIS_POINTS, type Estimate, type Weights } from '../model';
import { primaryArm } from '../strategies/arm-stats';
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

/** An arm no quality sample speaks for yet, named the same way in every explanation. */
export const unknownArm = (arm: string): string => `${arm} (quality unknown: no quality samples yet)`;

/** "a", "a and b", "a, b and c". */
export function listText(items: readonly string[]): string {
  return items.length <= 1
    ? (items[0] ?? '')
    : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/** A basis-point share as a percentage, with decimals only where it has them. */
export const bpsText = (v: number): string => `${(v / 100).toFixed(v % 100 === 0 ? 0 : 2)}%`;

export function weightsText(w: Weights | null): string {
  if (!w) return 'unchanged';
  return Object.entries(w)
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([arm, v]) => `${arm} ${bpsText(v)}`)
    .join(', ');
}

/**
 * What the change does to the segment: a move names the primary arm before and after (the arm a canary
 * promotes, or the re-spread's primary); a change that keeps the primary says so.
 */
function headline(c: Candidate): string {
  if (!c.to_weights) return `Change ${c.segment}`;
  const to = c.kind !== 'exploration' && c.canary_arm ? c.canary_arm : primaryArm(c.to_weights);
  const from = c.from_weights ? primaryArm(c.from_weights) : null;
  if (from === null) return `Route segment ${c.segment} to ${to}`;
  if (from !== to) return `Move segment ${c.segment} from ${from} to ${to}`;
  return c.kind === 'exploration'
    ? `Explore in segment ${c.segment} while ${to} stays primary`
    : `Reweight segment ${c.segment} while ${to} stays primary`;
}

/**
 * How the change reaches traffic, as the cycle carries it out: an exploration re-spread is applied at
 * once (the primary stays, so there is nothing to canary); any other routing change is a canary of its
 * arm through the policy's stages, promoted to all of the segment's traffic when the last one passes.
 */
function rolloutText(c: Candidate, stages: readonly number[]): string {
  if (!c.to_weights) return '';
  if (c.kind === 'exploration') return ` Applied at once, without a canary: ${weightsText(c.to_weights)}.`;
  if (!c.canary_arm) return ` Routing becomes ${weightsText(c.to_weights)}.`;
  const steps = [...stages.filter((bps) => bps < TOTAL_BASIS_POINTS), TOTAL_BASIS_POINTS].map(bpsText);
  return ` Rolled out as a canary of ${c.canary_arm} at ${steps.join(' → ')} of the segment's traffic, each stage judged before the next.`;
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
  const move = headline(c);
  const serving = c.serving_change
    ? ` Set ${c.serving_change.field} of ${c.serving_change.arm} from ${c.serving_change.from ?? 'unset'} to ${c.serving_change.to}.`
    : '';
  const rollout = rolloutText(c, stages);
  return `${move} (${c.strategy}): ${c.rationale}. Expected ${impact || 'impact unknown'}; confidence ${pct(c.confidence)}.${serving}${rollout}`;
}
