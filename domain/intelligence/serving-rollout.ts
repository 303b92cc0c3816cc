/**
 * Judging a serving change (rate_limit, batching) before/after. A serving policy applies to all of an
 * arm's traffic, so it cannot be split by weights: the rollout applies it at once and the canary judge
 * compares the arm's windows after the change with the same arm's windows of an equal span just before
 * it, while the SLO check holds the after windows to the target's absolute limits (latency at the SLO
 * percentile, error rate including 429s, the quality floor against the before windows). This module
 * only chooses the windows and combines the two answers: the statistics are the judge's and the SLO
 * check's own. Pure: no I/O, safe to import from workflow code.
 */
import type { ServingChange } from '../model';
import type { Verdict } from './judge';
import type { SloCheck } from './slo';

export interface TimeWindow {
  from: string;
  to: string;
}

/** The window of equal span that ends where `after` begins: the arm's traffic before the change. */
export function windowBefore(after: TimeWindow): TimeWindow {
  const from = Date.parse(after.from);
  const span = Date.parse(after.to) - from;
  return { from: new Date(from - span).toISOString(), to: after.from };
}

/**
 * One verdict from the before/after judge and the SLO check: a regression against the before windows
 * or a breached SLO fails (roll back); a judge that has not seen enough, or an SLO check short of
 * samples, stays marginal (extend the bake); both clean pass.
 */
export function servingVerdict(judge: Verdict, slo: SloCheck): Verdict {
  const breaches = slo.outcome === 'breach' ? slo.breaches.map((b) => `SLO breached: ${b}`) : [];
  if (judge.outcome === 'fail' || breaches.length > 0) {
    return {
      ...judge,
      outcome: 'fail',
      reasons: [...(judge.outcome === 'fail' ? judge.reasons : []), ...breaches],
    };
  }
  if (judge.outcome === 'pass' && slo.outcome === 'insufficient') {
    return {
      ...judge,
      outcome: 'marginal',
      reasons: [`SLO check has ${slo.samples} request(s) after the change, too few to judge`],
    };
  }
  return judge;
}

/** "max_concurrency of arm X from 16 to 24": the change in words, for summaries and events. */
export function describeServingChange(c: ServingChange): string {
  return `${c.field} of arm ${c.arm} from ${c.from ?? 'unset'} to ${c.to}`;
}
