/**
 * The single pure entry point of an optimization cycle: window aggregates in,
 * analysis report, candidates and decision drafts out. The analysis activities call it; the replay
 * benchmark calls it the same way, so the benchmark measures this code.
 */
import { seededRng } from '../stats/distributions';
import { runAnalyzers } from '../analyzers/index';
import { pooledFacts, segmentFacts, type ArmFacts, type SegmentFacts } from '../strategies/arm-stats';
import { proposeModelSelection, type SegmentPosterior } from '../strategies/model-selection';
import { proposeCostReduction } from '../strategies/cost-reduction';
import { proposePromptExperiments } from '../strategies/prompt-optimization';
import { proposeRateLimits } from '../strategies/rate-limit';
import { proposeBatching } from '../strategies/batching';
import { coordinate } from './coordinator';
import { listText, pct, unknownArm, usd } from './explain';
import { groupAggregates, summarize, rangeOf, type ArmSummary } from './summary';
import type { Candidate, CycleInput, CycleOptions, CycleOutput } from './types';

export const CYCLE_DEFAULTS: CycleOptions = {
  switch_threshold: 0.8,
  exploration_share: 0.1,
  min_confidence: 0.8,
  max_concurrent_rollouts: 5,
  posterior_draws: 200,
  prior_strength: 60,
  quality_margin: 0.01,
  min_exploration_share: 0.01,
};

/** Run analyzers, strategies and the coordinator for one target. Pure: `now` and `seed` are inputs. */
export function runIntelligence(input: CycleInput): CycleOutput {
  const options = { ...CYCLE_DEFAULTS, ...input.options };
  const rng = seededRng(input.seed);
  const groups = groupAggregates(input.aggregates);
  const bySegment = new Map<string, Map<string, ArmSummary>>();
  for (const windows of groups.values()) {
    const s = summarize(windows);
    const m = bySegment.get(s.segment) ?? new Map<string, ArmSummary>();
    m.set(s.arm, s);
    bySegment.set(s.segment, m);
  }
  const range = rangeOf(input.aggregates);
  const report = runAnalyzers({
    target: input.target,
    policy: input.policy,
    now: input.now,
    aggregates: input.aggregates,
    groups,
    summaries: bySegment,
    range,
  });

  const segments: SegmentFacts[] = Object.keys(input.routing)
    .sort()
    .map((seg) =>
      segmentFacts(seg, input.routing[seg]!, input.arms, bySegment.get(seg) ?? new Map(), input.policy),
    );
  const pooled = pooledFacts(segments, input.arms);
  const selection = proposeModelSelection(segments, pooled, input.arms, input.policy, options, rng);
  const candidates: Candidate[] = [
    ...selection.candidates,
    ...proposeCostReduction(segments, input.policy, {
      switch_threshold: options.switch_threshold,
      min_samples: 30,
      exploration_share: options.exploration_share,
    }),
    ...proposePromptExperiments(input.experiments ?? [], groups, input.routing),
    ...proposeRateLimits(input.arms, groups, segments),
    ...proposeBatching(input.arms, pooled, segments, input.policy, range),
  ];

  const totalRequests = segments.reduce((a, s) => a + s.requests, 0);
  const traffic_share: Record<string, number> = {};
  for (const s of segments) traffic_share[s.segment] = totalRequests > 0 ? s.requests / totalRequests : 0;
  let spend = 0;
  for (const m of bySegment.values()) for (const s of m.values()) spend += s.cost_usd;
  const spanMs = range.count > 0 ? Date.parse(range.to) - Date.parse(range.from) : 0;
  const hold_reasons: Record<string, string> = {};
  for (const p of selection.segments) {
    const facts = segments.find((s) => s.segment === p.segment)!;
    hold_reasons[p.segment] = holdReason(p, facts, pooled, options.switch_threshold);
  }
  const decisions = coordinate(candidates, {
    target: input.target,
    policy: input.policy,
    routing: input.routing,
    active_rollouts: input.active_rollouts,
    min_confidence: options.min_confidence,
    max_concurrent_rollouts: options.max_concurrent_rollouts,
    daily_spend_usd: spanMs > 0 ? (spend * 86_400_000) / spanMs : null,
    planned_quality_ratio: selection.planned_quality_ratio,
    hold_reasons,
    traffic_share,
  });
  return { report, candidates, decisions };
}

/**
 * Why model selection keeps a segment's primary arm. Only arms with quality samples (in this segment or,
 * through the hierarchical prior, elsewhere in the target) are compared by their posterior; an arm with
 * none is unknown: its share of draws comes from the prior alone and says nothing about it.
 */
function holdReason(
  p: SegmentPosterior,
  facts: SegmentFacts,
  pooled: ReadonlyMap<string, ArmFacts>,
  switchThreshold: number,
): string {
  const hasData = (arm: string) => (pooled.get(arm)?.quality_n ?? 0) > 0;
  const others = Object.keys(p.p_optimal).filter((a) => a !== p.primary);
  if (others.length === 0) return `${p.primary} is the only arm`;
  const costOf = (arm: string) => {
    const c = facts.arms.get(arm)?.cost_per_request ?? pooled.get(arm)?.cost_per_request ?? null;
    return c === null ? 'unknown' : usd(c);
  };
  const unknown = others.filter((a) => !hasData(a));
  const alt = others
    .filter(hasData)
    .map((a) => [a, p.p_optimal[a]!] as const)
    .sort((a, b) => b[1] - a[1])[0];
  const primary = hasData(p.primary) ? p.primary : unknownArm(p.primary);
  const compared = alt
    ? `the best alternative ${alt[0]} is the policy-optimal choice in ${pct(alt[1])} of posterior draws, below the ${pct(switchThreshold, 0)} a switch needs (posterior quality ${p.primary} ${p.quality_mean[p.primary]?.toFixed(3)}, ${alt[0]} ${p.quality_mean[alt[0]]?.toFixed(3)}; cost per request ${costOf(p.primary)} vs ${costOf(alt[0])}; ${facts.arms.get(alt[0])?.quality_n ?? 0} quality samples of ${alt[0]} here)`
    : null;
  const unknowns =
    unknown.length > 0 ? `no evidence favours ${listText(unknown.map(unknownArm))} over it` : null;
  return `${primary} stays: ${[compared, unknowns].filter((x) => x !== null).join('; ')}`;
}
