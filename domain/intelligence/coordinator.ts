/**
 * The coordinator: ranks the strategies' candidates on the Pareto front of expected cost,
 * latency and quality, applies the conflict rules (one routing change per segment; a rollout in
 * progress blocks its segment; one serving change per arm) and the safety checks (quality floor,
 * budget, minimum confidence, maximum concurrent rollouts, latency SLO), attaches a rollback plan and
 * explains each decision with its numbers. Segments left unchanged get a no_action draft saying why.
 */
import { rolloutStages, type TargetPolicy } from '../model';
import { dominates } from '../strategies/cost-reduction';
import type { Candidate, DecisionDraft } from './types';
import { explainChange, pct, usd, weightsText } from './explain';

export interface CoordinatorContext {
  target: string;
  policy: TargetPolicy;
  /** Every segment with a routing config, with its version and weights. */
  routing: Record<string, { version: number; weights: Record<string, number> }>;
  active_rollouts: readonly string[];
  min_confidence: number;
  max_concurrent_rollouts: number;
  /** Projected target spend per day at the current mix, when known. */
  daily_spend_usd: number | null;
  /** Planned target-level quality as a share of the reference arm's (model selection), when known. */
  planned_quality_ratio: number | null;
  /** Why each segment holds, from the strategies, for no_action explanations. */
  hold_reasons: Record<string, string>;
  /** Share of the target's traffic per segment, for the budget projection. */
  traffic_share: Record<string, number>;
}

const point = (c: Candidate) => ({
  id: '',
  cost: c.expected_impact.cost?.relative ?? 0,
  latency: c.expected_impact.latency?.relative ?? 0,
  quality: c.expected_impact.quality?.relative ?? 0,
});

/** Order candidates of one segment: Pareto-front members first, then expected saving weighted by confidence. */
export function rankCandidates(cands: readonly Candidate[]): Candidate[] {
  const pts = cands.map(point);
  const onFront = cands.map((_, i) => !pts.some((q, j) => j !== i && dominates(q, pts[i]!)));
  const score = (c: Candidate) => c.confidence * Math.max(-(c.expected_impact.cost?.relative ?? 0), 0.001);
  return cands
    .map((c, i) => ({ c, i }))
    .sort(
      (a, b) =>
        Number(onFront[b.i]) - Number(onFront[a.i]) ||
        score(b.c) - score(a.c) ||
        b.c.confidence - a.c.confidence,
    )
    .map((x) => x.c);
}

function safetyChecks(
  c: Candidate,
  ctx: CoordinatorContext,
  rolloutsInFlight: number,
): DecisionDraft['safety_checks'] {
  const checks: DecisionDraft['safety_checks'] = [];
  const q = c.expected_impact.quality;
  const floor = ctx.policy.quality_floor;
  if (c.strategy === 'model_selection' && ctx.planned_quality_ratio !== null) {
    checks.push({
      name: 'quality_floor',
      passed: ctx.planned_quality_ratio >= floor,
      detail: `planned target quality ${pct(ctx.planned_quality_ratio)} of the best arm's, floor ${pct(floor, 0)}`,
    });
  } else if (q) {
    checks.push({
      name: 'quality_floor',
      passed: 1 + q.relative >= floor,
      detail: `expected segment quality ${pct(1 + q.relative)} of the current arm's, floor ${pct(floor, 0)}`,
    });
  }
  if (ctx.policy.min_quality !== undefined && c.numbers['quality_new'] !== undefined) {
    checks.push({
      name: 'min_quality',
      passed: c.numbers['quality_new'] >= ctx.policy.min_quality,
      detail: `expected quality ${c.numbers['quality_new'].toFixed(3)}, minimum ${ctx.policy.min_quality}`,
    });
  }
  const budget = ctx.policy.budget_usd_per_day;
  if (budget !== undefined && ctx.daily_spend_usd !== null) {
    const share = ctx.traffic_share[c.segment] ?? 0;
    const projected = ctx.daily_spend_usd * (1 + share * (c.expected_impact.cost?.relative ?? 0));
    const cheaper = (c.expected_impact.cost?.relative ?? 0) <= 0;
    checks.push({
      name: 'budget',
      passed: cheaper || projected <= budget,
      detail: `projected spend ${usd(projected)}/day against a budget of ${usd(budget)}/day`,
    });
  }
  checks.push({
    name: 'min_confidence',
    passed: c.confidence >= ctx.min_confidence,
    detail: `confidence ${pct(c.confidence)}, minimum ${pct(ctx.min_confidence, 0)}`,
  });
  if (c.to_weights) {
    checks.push({
      name: 'max_concurrent_rollouts',
      passed: rolloutsInFlight < ctx.max_concurrent_rollouts,
      detail: `${rolloutsInFlight} rollouts in flight, maximum ${ctx.max_concurrent_rollouts}`,
    });
  }
  const lat = c.expected_impact.latency;
  if (ctx.policy.latency_slo_ms !== undefined && c.numbers['latency_new_ms'] !== undefined) {
    checks.push({
      name: 'latency_slo',
      passed: c.numbers['latency_new_ms'] <= ctx.policy.latency_slo_ms,
      detail: `expected ${ctx.policy.latency_slo_percentile} ${c.numbers['latency_new_ms'].toFixed(0)} ms, SLO ${ctx.policy.latency_slo_ms} ms${lat ? ` (${pct(lat.relative)} change)` : ''}`,
    });
  }
  return checks;
}

function noAction(ctx: CoordinatorContext, segment: string, why: string): DecisionDraft {
  const r = ctx.routing[segment];
  return {
    target: ctx.target,
    segment,
    strategy: 'coordinator',
    kind: 'no_action',
    from_version: r?.version ?? null,
    from_weights: r?.weights ?? null,
    to_weights: null,
    canary_arm: null,
    baseline_arm: null,
    expected_impact: { cost: null, latency: null, quality: null },
    confidence: 1,
    safety_checks: [],
    rollback_plan: 'nothing to roll back',
    explanation: `No change for ${segment}: ${why}. Current routing: ${weightsText(r?.weights ?? null)}.`,
    requires_approval: false,
  };
}

/** Decide from candidates. Pure. */
export function coordinate(candidates: readonly Candidate[], ctx: CoordinatorContext): DecisionDraft[] {
  const bySegment = new Map<string, Candidate[]>();
  for (const c of candidates) {
    const list = bySegment.get(c.segment);
    if (list) list.push(c);
    else bySegment.set(c.segment, [c]);
  }
  const active = new Set(ctx.active_rollouts);
  let inFlight = active.size;
  const stages = rolloutStages(ctx.policy.rollout).map((s) => s.canary_bps);
  const out: DecisionDraft[] = [];
  const servingArmsChanged = new Set<string>();
  for (const segment of Object.keys(ctx.routing).sort()) {
    const cands = bySegment.get(segment) ?? [];
    if (active.has(segment)) {
      out.push(
        noAction(
          ctx,
          segment,
          `a rollout is in progress here, which blocks new changes${cands.length ? ` (${cands.length} candidate(s) deferred)` : ''}`,
        ),
      );
      continue;
    }
    const routingCands = rankCandidates(cands.filter((c) => c.to_weights !== null));
    const servingCands = cands.filter((c) => c.to_weights === null && c.serving_change);
    const rejected: string[] = [];
    let chosen = false;
    for (const c of routingCands) {
      const checks = safetyChecks(c, ctx, inFlight);
      const failed = checks.filter((k) => !k.passed);
      if (failed.length > 0) {
        rejected.push(
          `${c.strategy} → ${c.canary_arm} failed ${failed.map((f) => `${f.name} (${f.detail})`).join(', ')}`,
        );
        continue;
      }
      const r = ctx.routing[segment]!;
      out.push({
        target: ctx.target,
        segment,
        strategy: c.strategy,
        kind: c.kind,
        from_version: r.version,
        from_weights: r.weights,
        to_weights: c.to_weights,
        canary_arm: c.canary_arm,
        baseline_arm: c.baseline_arm,
        expected_impact: c.expected_impact,
        confidence: c.confidence,
        safety_checks: checks,
        rollback_plan: `Restore routing version ${r.version} (${weightsText(r.weights)}); the canary judge rolls back at once on a latency or error-rate regression and on a quality drop beyond tolerance at any stage.`,
        explanation: explainChange(c, stages),
        requires_approval: ctx.policy.require_approval,
      });
      inFlight++;
      chosen = true;
      break;
    }
    for (const c of servingCands) {
      const arm = c.serving_change!.arm;
      if (servingArmsChanged.has(arm)) continue;
      const checks = safetyChecks(c, ctx, inFlight);
      if (checks.some((k) => !k.passed)) continue;
      servingArmsChanged.add(arm);
      out.push({
        target: ctx.target,
        segment,
        strategy: c.strategy,
        kind: c.kind,
        from_version: ctx.routing[segment]!.version,
        from_weights: null,
        to_weights: null,
        canary_arm: arm,
        baseline_arm: arm,
        expected_impact: c.expected_impact,
        confidence: c.confidence,
        safety_checks: checks,
        rollback_plan: `Set ${c.serving_change!.field} of ${arm} back to ${c.serving_change!.from ?? 'unset'}.`,
        serving_change: c.serving_change,
        explanation: explainChange(c, stages),
        requires_approval: ctx.policy.require_approval,
      });
      chosen = true;
    }
    if (!chosen) {
      const why =
        rejected.length > 0
          ? `every candidate failed a safety check: ${rejected.join('; ')}`
          : (ctx.hold_reasons[segment] ?? 'no strategy proposed a change');
      out.push(noAction(ctx, segment, why));
    }
  }
  return out;
}
