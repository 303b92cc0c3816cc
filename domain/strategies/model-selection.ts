/**
 * Model selection: per segment, Thompson sampling over arms on a reward that respects
 * the target's policy. The quality floor binds the target as a whole (the Pareto front first, then
 * the target's policy picks the point), so each posterior draw solves the target-level problem — the cheapest assignment
 * of arms to segments whose traffic-weighted quality keeps the floor against the best arm — by a
 * Lagrangian relaxation, and an arm's Thompson probability in a segment is the share of draws in which
 * it is that draw's choice. A switch is proposed only when that probability passes the threshold.
 *
 * Quality posteriors are hierarchical: an arm's quality in a segment is Beta around a logit-additive
 * prior (arm effect + segment difficulty), so a segment with little data on an arm borrows from what
 * the arm does elsewhere and what the segment does for other arms; the arm effect is itself drawn from
 * its pooled posterior so that early, thin evidence stays uncertain.
 */
import { TOTAL_BASIS_POINTS, type Arm, type TargetPolicy, type Weights } from '../model';
import { sampleBeta, sampleNormal, type Rng } from '../stats/distributions';
import type { Candidate } from '../intelligence/types';
import { bpsText, listText, pct, unknownArm } from '../intelligence/explain';
import { keepsSlo, type ArmFacts, type SegmentFacts } from './arm-stats';

export interface ModelSelectionParams {
  switch_threshold: number;
  exploration_share: number;
  posterior_draws: number;
  prior_strength: number;
  /**
   * Added to the floor when planning: the arms a plan picks are those that look best, so their quality
   * regresses toward the mean afterwards (winner's curse); the margin absorbs that.
   */
  quality_margin: number;
  /** Smallest exploration share a segment keeps however sure the posterior is. */
  min_exploration_share: number;
}

export interface SegmentPosterior {
  segment: string;
  primary: string;
  /** Thompson probability that each arm is the policy-optimal choice for the segment. */
  p_optimal: Record<string, number>;
  /** Posterior mean quality of each arm in the segment. */
  quality_mean: Record<string, number>;
  best: string;
}

export interface ModelSelectionResult {
  candidates: Candidate[];
  segments: SegmentPosterior[];
  reference_arm: string | null;
  /** Posterior mean of the planned target-level quality as a share of the reference arm's. */
  planned_quality_ratio: number | null;
}

/** Share of the primary's quality below which an arm's optimistic quality marks it dominated. */
const DOMINATED = 0.8;
/** How many of a segment's arms of best mean score are weighed as the switch's challenger. */
const CHALLENGERS = 4;

interface MeanPlan {
  /** Each draw's target quality with every segment on its primary (and its exploration mix). */
  total: Float64Array;
  lambda: number;
  /** Quality per segment and arm at the lower quantile of the draws, [s * A + a]. */
  qbar: Float64Array;
}

const logit = (p: number) => Math.log(p / (1 - p));
const expit = (x: number) => 1 / (1 + Math.exp(-x));
const clampP = (p: number) => Math.min(1 - 1e-4, Math.max(1e-4, p));

/** Split `total` basis points over `shares` with largest-remainder rounding. */
export function apportion(total: number, shares: readonly [string, number][]): Weights {
  const sum = shares.reduce((a, [, s]) => a + s, 0);
  const out: Weights = {};
  if (shares.length === 0) return out;
  const exact = shares.map(([k, s]) => [k, sum > 0 ? (s / sum) * total : total / shares.length] as const);
  let assigned = 0;
  for (const [k, x] of exact) {
    out[k] = Math.floor(x);
    assigned += Math.floor(x);
  }
  const order = [...exact].sort(
    (a, b) => b[1] - Math.floor(b[1]) - (a[1] - Math.floor(a[1])) || (a[0] < b[0] ? -1 : 1),
  );
  for (let i = 0; assigned < total; i++, assigned++)
    out[order[i % order.length]![0]] = (out[order[i % order.length]![0]] ?? 0) + 1;
  return out;
}

/** Weights that give `primary` all but the exploration share, spread over the others by `p_optimal`. */
export function explorationWeights(
  primary: string,
  armIds: readonly string[],
  pOptimal: Record<string, number>,
  share: number,
): Weights {
  const others = armIds.filter((a) => a !== primary);
  const exploreBps = others.length === 0 ? 0 : Math.round(share * TOTAL_BASIS_POINTS);
  const spread = apportion(
    exploreBps,
    others.map((a) => [a, (pOptimal[a] ?? 0) + 1 / armIds.length] as [string, number]),
  );
  return { ...spread, [primary]: TOTAL_BASIS_POINTS - exploreBps };
}

/**
 * Thompson exploration within the bound: each other arm gets its probability of being optimal, at least
 * `minShare` (split over the arms) so the segment keeps learning, and at most `share` in total.
 */
export function thompsonWeights(
  primary: string,
  armIds: readonly string[],
  pOptimal: Record<string, number>,
  share: number,
  minShare: number,
  dearer: ReadonlySet<string> = new Set(),
): Weights {
  const others = armIds.filter((a) => a !== primary);
  if (others.length === 0) return { [primary]: TOTAL_BASIS_POINTS };
  const floorEach = Math.min(share, minShare) / others.length;
  // An arm dearer than the primary only keeps the floor share: the primary runs because it is the cheaper
  // way to keep the floor, the dearer arm's quality here is known from when it served, and exploring it
  // buys little information at a high price (it stays in the posterior and in every plan).
  const raw = others.map(
    (a) =>
      [a, dearer.has(a) ? floorEach : Math.min(share, Math.max(floorEach, pOptimal[a] ?? 0))] as [
        string,
        number,
      ],
  );
  const total = Math.min(
    share,
    raw.reduce((x, [, v]) => x + v, 0),
  );
  const spread = apportion(Math.round(total * TOTAL_BASIS_POINTS), raw);
  return { ...spread, [primary]: TOTAL_BASIS_POINTS - Math.round(total * TOTAL_BASIS_POINTS) };
}

/** Run the strategy. Pure given `rng`. */
export function proposeModelSelection(
  segments: readonly SegmentFacts[],
  pooled: ReadonlyMap<string, ArmFacts>,
  arms: readonly Arm[],
  policy: TargetPolicy,
  params: ModelSelectionParams,
  rng: Rng,
): ModelSelectionResult {
  const armIds = arms.map((a) => a.id);
  const armPrior = segmentAdjusted(armPriors(armIds, pooled), segments, armIds, params.prior_strength);
  const reference = referenceArm(armPrior);
  if (reference < 0 || segments.length === 0)
    return { candidates: [], segments: [], reference_arm: null, planned_quality_ratio: null };
  const tables = selectionTables(segments, pooled, armIds, armPrior, policy, params);
  const drawn = drawAssignments(tables, armPrior, reference, policy, params, rng);
  const candidates: Candidate[] = [];
  const posteriors: SegmentPosterior[] = [];
  const primaries = segments.map((seg) => armIds.indexOf(seg.primary));
  const plan = { ...meanPlanPrice(tables, drawn, primaries), total: plannedTotals(primaries, tables, drawn) };
  const ctx = { pooled, armIds, reference, floor: policy.quality_floor, params, tables, drawn, plan };
  const proposals = segments.flatMap((seg, s) => {
    const p = armIds.indexOf(seg.primary);
    const c = challenger(s, p, ctx);
    return c.pNear >= params.switch_threshold ? [{ s, p, b: c.best }] : [];
  });
  const allowed = keepFloorTogether(proposals, primaries, tables, drawn);
  segments.forEach((seg, s) => {
    const { posterior, candidate } = segmentOutcome(seg, s, ctx, allowed.has(s));
    posteriors.push(posterior);
    if (candidate) candidates.push(candidate);
  });
  return {
    candidates,
    segments: posteriors,
    reference_arm: armIds[reference]!,
    planned_quality_ratio: drawn.plannedRatioSum / params.posterior_draws,
  };
}

interface ArmPrior {
  n: number;
  mu: number;
  se: number;
}

/** Each arm's pooled quality on the logit scale, with its standard error: the draws' prior. */
function armPriors(armIds: readonly string[], pooled: ReadonlyMap<string, ArmFacts>): ArmPrior[] {
  return armIds.map((id) => {
    const f = pooled.get(id);
    const n = f?.quality_n ?? 0;
    const q = clampP(((f?.quality_sum ?? 0) + 1) / (n + 2));
    return { n, mu: logit(q), se: Math.sqrt(1 / ((n + 2) * q * (1 - q))) };
  });
}

/** The arm of best pooled quality among those with samples, or -1 when none has any. */
function referenceArm(armPrior: readonly ArmPrior[]): number {
  // Ranked by a lower bound (one standard error below the mean): with many arms, one with four correct
  // answers out of four would otherwise be the reference the floor is measured against.
  const lower = (a: number) => armPrior[a]!.mu - armPrior[a]!.se;
  let reference = -1;
  armPrior.forEach((_, a) => {
    if (armPrior[a]!.n > 0 && (reference < 0 || lower(a) > lower(reference))) reference = a;
  });
  return reference;
}

/**
 * Arm effects net of segment difficulty: an arm explored mostly in easy segments would otherwise look
 * better than one measured everywhere. Two rounds of alternating estimates (segment difficulty given the
 * arm effects, shrunk toward zero like the draws' own; then each arm's effect as the sample-weighted
 * mean of its segments' logits less their difficulty) are enough for the ranking and the prior.
 */
function segmentAdjusted(
  armPrior: readonly ArmPrior[],
  segments: readonly SegmentFacts[],
  armIds: readonly string[],
  priorStrength: number,
): ArmPrior[] {
  const cell = (seg: SegmentFacts, id: string) => {
    const f = seg.arms.get(id);
    return f && f.quality_n > 0
      ? { n: f.quality_n, l: logit(clampP((f.quality_sum + 0.5) / (f.quality_n + 1))) }
      : null;
  };
  let mu = armPrior.map((p) => p.mu);
  for (let round = 0; round < 2; round++) {
    const delta = segments.map((seg) => {
      let num = 0;
      let den = 0;
      armIds.forEach((id, a) => {
        const c = cell(seg, id);
        if (c) {
          num += c.n * (c.l - mu[a]!);
          den += c.n;
        }
      });
      return den > 0 ? (num / den) * (den / (den + priorStrength)) : 0;
    });
    mu = armIds.map((id, a) => {
      let num = 0;
      let den = 0;
      segments.forEach((seg, s) => {
        const c = cell(seg, id);
        if (c) {
          num += c.n * (c.l - delta[s]!);
          den += c.n;
        }
      });
      return den > 0 ? num / den : mu[a]!;
    });
  }
  return armPrior.map((p, a) => ({ ...p, mu: mu[a]! }));
}

/** What the draws read, per segment and arm in flat arrays indexed [s * A + a]. */
interface SelectionTables {
  A: number;
  S: number;
  /** Each segment's share of the target's traffic. */
  weight: number[];
  cost: Float64Array;
  qn: Float64Array;
  qs: Float64Array;
  delta: Float64Array;
  maxCost: number;
  epsOf: number[];
  /**
   * How a segment's exploration share is spread over its other arms now, [s * A + a], summing to 1 over
   * the segment (evenly where it explores nothing): a choice's mix quality counts these arms at these
   * shares, since exploration follows the posterior and not an even spread.
   */
  explore: Float64Array;
  mixCost: Float64Array;
  byCost: number[][];
}

function selectionTables(
  segments: readonly SegmentFacts[],
  pooled: ReadonlyMap<string, ArmFacts>,
  armIds: readonly string[],
  armPrior: readonly ArmPrior[],
  policy: TargetPolicy,
  params: ModelSelectionParams,
): SelectionTables {
  const A = armIds.length;
  const S = segments.length;
  const totalRequests = segments.reduce((a, s) => a + s.requests, 0);
  const weight = segments.map((s) => (totalRequests > 0 ? s.requests / totalRequests : 1 / S));
  // cost[s*A + a]: NaN marks an arm that cannot be chosen (unknown cost or outside an SLO).
  const cost = new Float64Array(S * A);
  const qn = new Float64Array(S * A);
  const qs = new Float64Array(S * A);
  const delta = new Float64Array(S);
  segments.forEach((seg, s) => {
    let num = 0;
    let den = 0;
    armIds.forEach((id, a) => {
      const f = seg.arms.get(id);
      const p = pooled.get(id);
      const c = f?.cost_per_request ?? p?.cost_per_request ?? null;
      cost[s * A + a] = c !== null && keepsSlo(f, policy) && keepsSlo(p, policy) ? c : NaN;
      qn[s * A + a] = f?.quality_n ?? 0;
      qs[s * A + a] = f?.quality_sum ?? 0;
      if (f && f.quality_n > 0) {
        num += f.quality_n * (logit(clampP((f.quality_sum + 0.5) / (f.quality_n + 1))) - armPrior[a]!.mu);
        den += f.quality_n;
      }
    });
    // Shrink the segment's difficulty toward zero while it has little data.
    delta[s] = den > 0 ? (num / den) * (den / (den + params.prior_strength)) : 0;
  });
  let maxCost = 0;
  for (const c of cost) if (c > maxCost) maxCost = c;

  // The share a segment sends to its other arms now: what a choice's mix is planned with.
  const epsOf = segments.map((seg) =>
    A > 1 ? Math.min(params.exploration_share, 1 - (seg.weights[seg.primary] ?? 0) / TOTAL_BASIS_POINTS) : 0,
  );
  const explore = new Float64Array(S * A);
  segments.forEach((seg, s) => {
    let sum = 0;
    armIds.forEach((id) => {
      if (id !== seg.primary) sum += seg.weights[id] ?? 0;
    });
    armIds.forEach((id, a) => {
      if (id === seg.primary) return;
      explore[s * A + a] = sum > 0 ? (seg.weights[id] ?? 0) / sum : 1 / Math.max(1, A - 1);
    });
  });
  const mixCost = new Float64Array(S * A);
  for (let s = 0; s < S; s++) {
    const eps = epsOf[s]!;
    let known = 0;
    let sum = 0;
    for (let a = 0; a < A; a++) {
      const c = cost[s * A + a]!;
      if (!Number.isNaN(c)) {
        known++;
        sum += c;
      }
    }
    for (let a = 0; a < A; a++) {
      const c = cost[s * A + a]!;
      mixCost[s * A + a] = Number.isNaN(c)
        ? NaN
        : known > 1
          ? (1 - eps) * c + (eps * (sum - c)) / (known - 1)
          : c;
    }
  }
  // The choosable arms of each segment by ascending mix cost (ties by index): what the per-draw pruning
  // below scans. Costs do not change between draws, so this order is computed once.
  const byCost: number[][] = [];
  for (let s = 0; s < S; s++) {
    const idx: number[] = [];
    for (let a = 0; a < A; a++) if (!Number.isNaN(mixCost[s * A + a]!)) idx.push(a);
    idx.sort((x, y) => mixCost[s * A + x]! - mixCost[s * A + y]! || x - y);
    byCost.push(idx);
  }
  return { A, S, weight, cost, qn, qs, delta, maxCost, epsOf, explore, mixCost, byCost };
}

interface DrawnAssignments {
  /** draws[d * S * A + s * A + a]: arm a's quality in segment s in draw d. */
  draws: Float64Array;
  /** How many draws chose each arm for each segment, [s * A + a]. */
  chosenCount: Float64Array;
  /** Each draw's shadow price of quality (0 when the cheapest choices already keep the floor). */
  lambdas: Float64Array;
  /** Each draw's choice per segment, [d * S + s]. */
  picks: Int32Array;
  /** Each draw's target quality to keep: the floor and margin times the reference arm's quality. */
  needs: Float64Array;
  plannedRatioSum: number;
}

/** The quality exploration serves in segment `s` at its current spread, from `q[offset + s * A + a]`. */
function exploredQuality(t: SelectionTables, q: Float64Array, offset: number, s: number): number {
  let e = 0;
  for (let a = 0; a < t.A; a++) e += t.explore[s * t.A + a]! * q[offset + s * t.A + a]!;
  return e;
}

/**
 * The posterior draws: in each, every arm's quality per segment, and the cheapest assignment of arms to
 * segments that keeps the target's floor (a Lagrangian relaxation, its price found by bisection).
 */
function drawAssignments(
  t: SelectionTables,
  armPrior: readonly ArmPrior[],
  reference: number,
  policy: TargetPolicy,
  params: ModelSelectionParams,
  rng: Rng,
): DrawnAssignments {
  const { A, S, weight, qn, qs, delta, maxCost, epsOf, mixCost, byCost } = t;
  const mixQ = new Float64Array(S * A);
  // Largest shadow price the bisection can try (exp of its upper end, with room for exp's rounding).
  const lambdaMax = Math.max(maxCost, 1e-12) * 1e6 * (1 + 1e-9);
  const tieGap = 1e-14 * (2 * lambdaMax + maxCost);
  const cand = new Int32Array(S * A);
  const candLen = new Int32Array(S);
  const D = params.posterior_draws;
  const draws = new Float64Array(D * S * A);
  const chosenCount = new Float64Array(S * A);
  const pick = new Int32Array(S);
  const lambdas = new Float64Array(D);
  const picks = new Int32Array(D * S);
  const needs = new Float64Array(D);
  let plannedRatioSum = 0;
  const k0 = params.prior_strength;
  const floor = policy.quality_floor;
  // Each draw's arm effects, in arm order (the order the generator is read in), in one reused array.
  const mu = new Float64Array(A);
  for (let d = 0; d < D; d++) {
    for (let a = 0; a < A; a++) mu[a] = armPrior[a]!.mu + armPrior[a]!.se * sampleNormal(rng);
    const base = d * S * A;
    for (let s = 0; s < S; s++)
      for (let a = 0; a < A; a++) {
        const m = expit(mu[a]! + delta[s]!);
        const n = qn[s * A + a]!;
        const succ = qs[s * A + a]!;
        draws[base + s * A + a] = sampleBeta(k0 * m + succ, k0 * (1 - m) + n - succ, rng);
      }
    let refQ = 0;
    for (let s = 0; s < S; s++) refQ += weight[s]! * draws[base + s * A + reference]!;
    const need = Math.max((floor + params.quality_margin) * refQ, policy.min_quality ?? 0);
    needs[d] = need;
    // A segment keeps sending the exploration share to its other arms, so a choice's quality and cost
    // are those of the mix it implies, not of the chosen arm alone.
    for (let s = 0; s < S; s++) {
      const eps = epsOf[s]!;
      const e = exploredQuality(t, draws, base, s);
      for (let a = 0; a < A; a++) mixQ[s * A + a] = (1 - eps) * draws[base + s * A + a]! + eps * e;
    }
    // Pruning that leaves every assignment as it was: an arm that costs more than another by more than
    // `tieGap` without a higher mix quality scores strictly worse at every price the search tries (the
    // rounding error of a score c - lambda * q is below tieGap / 2 for lambda <= lambdaMax and q <= 1),
    // so it is never the first arm of least score and `assign` need not look at it. What remains, in
    // index order, is about the segment's cost-quality frontier: a handful of 50 arms.
    for (let s = 0; s < S; s++) {
      const idx = byCost[s]!;
      let len = 0;
      let j = 0;
      let cheaperMaxQ = -Infinity;
      for (const a of idx) {
        const c = mixCost[s * A + a]!;
        // Fold in the arms cheaper than this one by more than the gap (a prefix of the cost order).
        while (j < idx.length && mixCost[s * A + idx[j]!]! < c - tieGap) {
          const qj = mixQ[s * A + idx[j]!]!;
          if (qj > cheaperMaxQ) cheaperMaxQ = qj;
          j++;
        }
        if (cheaperMaxQ >= mixQ[s * A + a]!) continue;
        // Insert in index order (the list stays short).
        let k = len++;
        while (k > 0 && cand[s * A + k - 1]! > a) {
          cand[s * A + k] = cand[s * A + k - 1]!;
          k--;
        }
        cand[s * A + k] = a;
      }
      candLen[s] = len;
    }
    const assign = (lambda: number): number => {
      let q = 0;
      for (let s = 0; s < S; s++) {
        let best = -1;
        let bestScore = Infinity;
        const len = candLen[s]!;
        for (let k = 0; k < len; k++) {
          const a = cand[s * A + k]!;
          const c = mixCost[s * A + a]!;
          const score = c - lambda * mixQ[s * A + a]!;
          if (score < bestScore) {
            bestScore = score;
            best = a;
          }
        }
        if (best < 0) best = reference;
        pick[s] = best;
        q += weight[s]! * mixQ[s * A + best]!;
      }
      return q;
    };
    let q = assign(0);
    if (q < need) {
      // Bisect the shadow price of quality on a log scale: the smallest price that keeps the floor.
      let lo = Math.log(Math.max(maxCost, 1e-12) * 1e-6);
      let hi = Math.log(Math.max(maxCost, 1e-12) * 1e6);
      for (let i = 0; i < 40; i++) {
        const mid = (lo + hi) / 2;
        if (assign(Math.exp(mid)) >= need) hi = mid;
        else lo = mid;
      }
      q = assign(Math.exp(hi));
      lambdas[d] = Math.exp(hi);
    }
    plannedRatioSum += refQ > 0 ? q / refQ : 1;
    for (let s = 0; s < S; s++) {
      chosenCount[s * A + pick[s]!]!++;
      picks[d * S + s] = pick[s]!;
    }
  }
  return { draws, chosenCount, lambdas, picks, needs, plannedRatioSum };
}

/**
 * The shadow price of quality at which the plan on the qualities the evidence supports (each arm's lower
 * quantile of its draws, lower with more arms to choose from) keeps the floor: with the price
 * fixed, the target-level problem splits into one per segment (each picks its arm of least cost minus
 * price times quality), so switches judged one segment at a time at this price add up to a plan that
 * keeps the floor. A price found in each draw instead is low whenever that draw is optimistic about
 * some cheap arm, which with many arms is nearly every draw.
 */
function meanPlanPrice(
  t: SelectionTables,
  drawn: DrawnAssignments,
  primaries: readonly number[],
): { lambda: number; qbar: Float64Array } {
  const { A, S, weight, mixCost, epsOf, maxCost } = t;
  const D = drawn.needs.length;
  // Each arm's quality at the 1/A quantile of its draws (the median with two arms): about what the best
  // looking of A - 1 challengers turns out to be once served, since the plan picks the arms that look best
  // (the expected maximum of A - 1 standard normals is near the 1 - 1/A quantile).
  const qbar = new Float64Array(S * A);
  const column = new Float64Array(D);
  const at = Math.min(D - 1, Math.floor((D * 0.5) / Math.sqrt(Math.max(1, A - 1))));
  for (let i = 0; i < S * A; i++) {
    for (let d = 0; d < D; d++) column[d] = drawn.draws[d * S * A + i]!;
    column.sort();
    // The primary is not picked for looking good: it serves, and its posterior mean is what it gives.
    const primary = primaries[Math.floor(i / A)] === i % A;
    qbar[i] = primary ? column.reduce((x, y) => x + y, 0) / D : column[at]!;
  }
  let need = 0;
  for (let d = 0; d < D; d++) need += drawn.needs[d]! / D;
  const mixQ = new Float64Array(S * A);
  for (let s = 0; s < S; s++) {
    const eps = epsOf[s]!;
    const e = exploredQuality(t, qbar, 0, s);
    for (let a = 0; a < A; a++) mixQ[s * A + a] = (1 - eps) * qbar[s * A + a]! + eps * e;
  }
  const quality = (lambda: number) => {
    let q = 0;
    for (let s = 0; s < S; s++) {
      let best = -1;
      let bestScore = Infinity;
      for (let a = 0; a < A; a++) {
        const c = mixCost[s * A + a]!;
        if (Number.isNaN(c)) continue;
        const score = c - lambda * mixQ[s * A + a]!;
        if (score < bestScore) {
          bestScore = score;
          best = a;
        }
      }
      if (best >= 0) q += weight[s]! * mixQ[s * A + best]!;
    }
    return q;
  };
  if (quality(0) >= need) return { lambda: 0, qbar };
  let lo = Math.log(Math.max(maxCost, 1e-12) * 1e-6);
  let hi = Math.log(Math.max(maxCost, 1e-12) * 1e6);
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (quality(Math.exp(mid)) >= need) hi = mid;
    else lo = mid;
  }
  return { lambda: Math.exp(hi), qbar };
}

/**
 * The arms of segment `s` confidently dominated by arm `p`: even their optimistic quality (the upper
 * tenth of their draws) is below `DOMINATED` of `p`'s mean. Exploring them spends the quality budget
 * for nothing a plan could use, so they keep only the floor share (the posterior goes on pooling what
 * they do elsewhere, and an arm nothing is known of is never dominated: its draws are wide).
 */
function dominatedArms(
  s: number,
  p: number,
  ctx: { tables: SelectionTables; drawn: DrawnAssignments; armIds: readonly string[] },
): string[] {
  const { A, S } = ctx.tables;
  const D = ctx.drawn.needs.length;
  const draws = ctx.drawn.draws;
  let mean = 0;
  for (let d = 0; d < D; d++) mean += draws[d * S * A + s * A + p]! / D;
  const column = new Float64Array(D);
  const out: string[] = [];
  for (let a = 0; a < A; a++) {
    if (a === p) continue;
    for (let d = 0; d < D; d++) column[d] = draws[d * S * A + s * A + a]!;
    column.sort();
    if (column[Math.floor(D * 0.9)]! < DOMINATED * mean) out.push(ctx.armIds[a]!);
  }
  return out;
}

/**
 * The challenger of segment `s` with primary `p` at the shadow price `lambda`: of the arms whose mean
 * score (cost minus price times quality) beats the primary's, best first, the first that beats it in at
 * least `threshold` of the draws; with that share. An arm nothing is known of beats a dear primary in
 * few draws of its wide posterior, so evidence, not the prior's optimism, makes the switch.
 */
function challenger(
  s: number,
  p: number,
  ctx: { tables: SelectionTables; drawn: DrawnAssignments; params: ModelSelectionParams; plan: MeanPlan },
): { best: number; pNear: number } {
  const { A, S, mixCost, epsOf } = ctx.tables;
  const { lambda, qbar } = ctx.plan;
  if (p < 0 || Number.isNaN(mixCost[s * A + p]!)) {
    // No primary to compare with: the arm of best mean score, as sure as the draws' plans choose it.
    let best = -1;
    for (let a = 0; a < A; a++)
      if (
        !Number.isNaN(mixCost[s * A + a]!) &&
        (best < 0 || ctx.drawn.chosenCount[s * A + a]! > ctx.drawn.chosenCount[s * A + best]!)
      )
        best = a;
    return {
      best: Math.max(best, 0),
      pNear: best < 0 ? 0 : ctx.drawn.chosenCount[s * A + best]! / ctx.params.posterior_draws,
    };
  }
  // A mix's quality is the chosen arm's at 1 - eps plus what exploration serves, common to every choice
  // of the segment, so score differences need only (1 - eps) × quality.
  const slope = 1 - epsOf[s]!;
  const score = (a: number, q: number) => mixCost[s * A + a]! - lambda * slope * q;
  const ranked = Array.from({ length: A }, (_, i) => i)
    .filter((a) => a !== p && !Number.isNaN(mixCost[s * A + a]!))
    .filter((a) => score(a, qbar[s * A + a]!) < score(p, qbar[s * A + p]!))
    .sort((x, y) => score(x, qbar[s * A + x]!) - score(y, qbar[s * A + y]!) || x - y)
    .slice(0, CHALLENGERS);
  const D = ctx.params.posterior_draws;
  let best = ranked[0] ?? p;
  let pNear = 0;
  const w = ctx.tables.weight[s]!;
  for (const a of ranked) {
    let wins = 0;
    for (let d = 0; d < D; d++) {
      const base = d * S * A + s * A;
      const qa = ctx.drawn.draws[base + a]!;
      const qp = ctx.drawn.draws[base + p]!;
      // A draw counts when the switch is the better choice at the price and, in that draw, the target
      // still keeps its floor with it: at a price of 0 (the plan has room) cost alone would decide, and
      // a cheap arm seen three times would pass on its price.
      const keeps = ctx.plan.total[d]! + w * slope * (qa - qp) >= ctx.drawn.needs[d]!;
      if (keeps && score(a, qa) < score(p, qp)) wins++;
    }
    if (wins / D > pNear) {
      pNear = wins / D;
      best = a;
    }
    if (pNear >= ctx.params.switch_threshold) break;
  }
  return { best, pNear };
}

/** Each draw's target quality with every segment on its primary (one without, as the draw plans it). */
function plannedTotals(
  primaries: readonly number[],
  t: SelectionTables,
  drawn: DrawnAssignments,
): Float64Array {
  const { A, S, weight, epsOf } = t;
  const D = drawn.needs.length;
  const total = new Float64Array(D);
  for (let d = 0; d < D; d++) {
    let x = 0;
    for (let s = 0; s < S; s++) {
      const a = primaries[s]! >= 0 ? primaries[s]! : drawn.picks[d * S + s]!;
      const eps = epsOf[s]!;
      const q = drawn.draws[d * S * A + s * A + a]!;
      x += weight[s]! * ((1 - eps) * q + eps * exploredQuality(t, drawn.draws, d * S * A, s));
    }
    total[d] = x;
  }
  return total;
}

/**
 * The switches, of those proposed, that keep the target's floor together. Each segment's switch is
 * judged in every draw against that draw's own plan for the other segments, but the switches that pass
 * are applied together: many segments each moving to a cheaper arm the draws disagree on would, summed,
 * spend more quality than any one draw's plan. So the switches are taken largest saving first while the
 * assignment they build (primaries, the switches taken, each segment's exploration mix) keeps the floor
 * and margin in expectation over the draws; a switch to an arm of higher expected quality always passes.
 */
function keepFloorTogether(
  proposals: readonly { s: number; p: number; b: number }[],
  primaries: readonly number[],
  t: SelectionTables,
  drawn: DrawnAssignments,
): Set<number> {
  const { A, S, weight, mixCost, epsOf } = t;
  const D = drawn.needs.length;
  const slope = (s: number) => 1 - epsOf[s]!;
  const q = (d: number, s: number, a: number) => drawn.draws[d * S * A + s * A + a]!;
  const total = plannedTotals(primaries, t, drawn);
  const slack = (delta: (d: number) => number) => {
    let x = 0;
    for (let d = 0; d < D; d++) x += total[d]! + delta(d) - drawn.needs[d]!;
    return x / D;
  };
  const allowed = new Set<number>();
  const saving = (x: { s: number; p: number; b: number }) =>
    weight[x.s]! * ((mixCost[x.s * A + x.p]! || 0) - mixCost[x.s * A + x.b]!);
  for (const x of [...proposals].sort((a, b) => saving(b) - saving(a) || a.s - b.s)) {
    const delta = (d: number) => weight[x.s]! * slope(x.s) * (q(d, x.s, x.b) - q(d, x.s, x.p));
    let gain = 0;
    for (let d = 0; d < D; d++) gain += delta(d);
    if (slack(delta) >= 0 || gain >= 0 || Number.isNaN(mixCost[x.s * A + x.p]!)) {
      allowed.add(x.s);
      for (let d = 0; d < D; d++) total[d] = total[d]! + delta(d);
    }
  }
  return allowed;
}

/** A segment's posterior, and the switch (or the exploration re-spread) it leads to, if any. */
function segmentOutcome(
  seg: SegmentFacts,
  s: number,
  ctx: {
    pooled: ReadonlyMap<string, ArmFacts>;
    armIds: readonly string[];
    reference: number;
    floor: number;
    params: ModelSelectionParams;
    tables: SelectionTables;
    drawn: DrawnAssignments;
    plan: MeanPlan;
  },
  switchAllowed: boolean,
): { posterior: SegmentPosterior; candidate: Candidate | null } {
  const { pooled, armIds, reference, floor, params } = ctx;
  const { A, S, cost } = ctx.tables;
  const { draws, chosenCount } = ctx.drawn;
  const D = params.posterior_draws;
  const pOpt: Record<string, number> = {};
  const qMean: Record<string, number> = {};
  let mode = 0;
  armIds.forEach((id, a) => {
    pOpt[id] = chosenCount[s * A + a]! / D;
    let m = 0;
    for (let d = 0; d < D; d++) m += draws[d * S * A + s * A + a]!;
    qMean[id] = m / D;
    if (pOpt[id] > pOpt[armIds[mode]!]!) mode = a;
  });

  const posterior: SegmentPosterior = {
    segment: seg.segment,
    primary: seg.primary,
    p_optimal: pOpt,
    quality_mean: qMean,
    best: armIds[mode]!,
  };
  const p = armIds.indexOf(seg.primary);
  const { best, pNear } = challenger(s, p, ctx);
  const bestId = armIds[best]!;
  if (bestId === seg.primary || p < 0 || pNear < params.switch_threshold || !switchAllowed) {
    if (p < 0) return { posterior, candidate: null };
    const dearer = new Set(armIds.filter((_, a) => cost[s * A + a]! > cost[s * A + p]!));
    const held = new Set([...dearer, ...dominatedArms(s, p, ctx)]);
    return { posterior, candidate: exploreCandidate(seg, pooled, armIds, pOpt, qMean, params, held, dearer) };
  }
  const dearerThan = (b: number) =>
    new Set([...armIds.filter((_, a) => cost[s * A + a]! > cost[s * A + b]!), ...dominatedArms(s, b, ctx)]);
  const ratios: number[] = [];
  for (let d = 0; d < D; d++)
    ratios.push(draws[d * S * A + s * A + best]! / Math.max(draws[d * S * A + s * A + p]!, 1e-9) - 1);
  ratios.sort((x, y) => x - y);
  const qRel = {
    relative: ratios[Math.floor(D / 2)]!,
    low: ratios[Math.floor(D * 0.05)]!,
    high: ratios[Math.floor(D * 0.95)]!,
  };
  const cNew = cost[s * A + best]!;
  const cOld =
    seg.arms.get(seg.primary)?.cost_per_request ?? pooled.get(seg.primary)?.cost_per_request ?? null;
  const costRel = cOld && cOld > 0 ? cNew / cOld - 1 : 0;
  const lNew = seg.arms.get(bestId)?.latency_ms ?? pooled.get(bestId)?.latency_ms ?? null;
  const lOld = seg.arms.get(seg.primary)?.latency_ms ?? pooled.get(seg.primary)?.latency_ms ?? null;
  const latRel = lNew !== null && lOld !== null && lOld > 0 ? lNew / lOld - 1 : null;
  const candidate: Candidate = {
    strategy: 'model_selection',
    kind: 'model_switch',
    segment: seg.segment,
    canary_arm: bestId,
    baseline_arm: seg.primary,
    from_weights: seg.weights,
    to_weights: thompsonWeights(
      bestId,
      armIds,
      pOpt,
      params.exploration_share,
      params.min_exploration_share,
      dearerThan(best),
    ),
    expected_impact: {
      cost: { relative: costRel, low: costRel, high: costRel },
      latency: latRel === null ? null : { relative: latRel, low: latRel, high: latRel },
      quality: qRel,
    },
    confidence: pNear,
    numbers: {
      p_optimal: pOpt[bestId]!,
      p_beats_primary: pNear,
      threshold: params.switch_threshold,
      quality_new: qMean[bestId]!,
      quality_old: qMean[seg.primary]!,
      cost_new_usd: cNew,
      cost_old_usd: cOld ?? NaN,
      samples_new: seg.arms.get(bestId)?.quality_n ?? 0,
      samples_old: seg.arms.get(seg.primary)?.quality_n ?? 0,
      ...(lNew !== null ? { latency_new_ms: lNew } : {}),
    },
    // An arm no sample speaks for can still win draws on its prior alone (a cheap arm, a loose floor).
    rationale: `in ${(pOpt[bestId]! * 100).toFixed(1)}% of ${D} posterior draws ${(pooled.get(bestId)?.quality_n ?? 0) === 0 ? `${unknownArm(bestId)}, on its prior alone,` : bestId} is the cheapest choice for ${seg.segment} that keeps the target's quality at ${(floor * 100).toFixed(0)}% of ${armIds[reference]}, and in ${(pNear * 100).toFixed(1)}% it is a better choice there than ${seg.primary} at the price of quality that keeps the floor on posterior means`,
  };
  return { posterior, candidate };
}

/**
 * Re-spread a segment's exploration when the posterior has moved: less traffic to arms that are almost
 * surely not optimal (their exploration spends the quality budget), more to those that may be. Only a
 * material move (half or double, and at least 0.5 points) is proposed so routing does not churn.
 */
function exploreCandidate(
  seg: SegmentFacts,
  pooled: ReadonlyMap<string, ArmFacts>,
  armIds: readonly string[],
  pOpt: Record<string, number>,
  qMean: Record<string, number>,
  params: ModelSelectionParams,
  held: ReadonlySet<string>,
  dearer: ReadonlySet<string>,
): Candidate | null {
  const target = thompsonWeights(
    seg.primary,
    armIds,
    pOpt,
    params.exploration_share,
    params.min_exploration_share,
    held,
  );
  const material = armIds.some((a) => {
    if (a === seg.primary) return false;
    const now = seg.weights[a] ?? 0;
    const next = target[a] ?? 0;
    return Math.abs(next - now) >= 50 && (next > 2 * now || next < now / 2);
  });
  if (!material) return null;
  const shrinking = (target[seg.primary] ?? 0) > (seg.weights[seg.primary] ?? 0);
  const grown = armIds
    .filter((a) => a !== seg.primary)
    .sort(
      (a, b) => (target[b] ?? 0) - (seg.weights[b] ?? 0) - ((target[a] ?? 0) - (seg.weights[a] ?? 0)),
    )[0]!;
  const alt = Math.max(...armIds.filter((a) => a !== seg.primary).map((a) => pOpt[a] ?? 0));
  return {
    strategy: 'model_selection',
    kind: 'exploration',
    segment: seg.segment,
    canary_arm: shrinking ? seg.primary : grown,
    baseline_arm: seg.primary,
    from_weights: seg.weights,
    to_weights: target,
    expected_impact: { cost: null, latency: null, quality: null },
    // Growing exploration risks at most the bounded share of traffic; shrinking it is as safe as the alternatives are unlikely.
    confidence: shrinking ? 1 - alt : 1 - params.exploration_share,
    numbers: {
      p_best_alternative: alt,
      exploration_share: 1 - (target[seg.primary] ?? 0) / TOTAL_BASIS_POINTS,
      quality_primary: qMean[seg.primary] ?? NaN,
    },
    rationale: explorationRationale(seg, pooled, armIds, pOpt, target, params, held, dearer),
  };
}

/** Which arms explore, with what share before and after, and why; an arm without samples is unknown. */
function explorationRationale(
  seg: SegmentFacts,
  pooled: ReadonlyMap<string, ArmFacts>,
  armIds: readonly string[],
  pOpt: Record<string, number>,
  target: Weights,
  params: ModelSelectionParams,
  held: ReadonlySet<string>,
  dearer: ReadonlySet<string>,
): string {
  const others = armIds.filter((a) => a !== seg.primary);
  const before = TOTAL_BASIS_POINTS - (seg.weights[seg.primary] ?? 0);
  const after = TOTAL_BASIS_POINTS - (target[seg.primary] ?? 0);
  const direction =
    after > before
      ? `grows from ${bpsText(before)} to ${bpsText(after)} of traffic`
      : after < before
        ? `shrinks from ${bpsText(before)} to ${bpsText(after)} of traffic`
        : `stays at ${bpsText(after)} of traffic, spread anew`;
  const unknown = others.filter((a) => (pooled.get(a)?.quality_n ?? 0) === 0);
  const known = others.filter((a) => !unknown.includes(a));
  const arms = others.map((a) => {
    const share = `${bpsText(seg.weights[a] ?? 0)} → ${bpsText(target[a] ?? 0)}`;
    if (unknown.includes(a)) return `${unknownArm(a)} ${share}`;
    const borrowed =
      (seg.arms.get(a)?.quality_n ?? 0) === 0 ? ", from the target's other segments (none here)" : '';
    const capped = dearer.has(a)
      ? `; dearer than ${seg.primary}, so held at the floor share`
      : held.has(a)
        ? `; surely below ${pct(DOMINATED, 0)} of ${seg.primary}'s quality here, so held at the floor share`
        : '';
    return `${a} ${share} (the policy-optimal choice in ${pct(pOpt[a] ?? 0)} of posterior draws${borrowed}${capped})`;
  });
  const plural = (xs: readonly string[], one: string, many: string) => (xs.length === 1 ? one : many);
  const why: string[] = [];
  if (known.length > 0)
    why.push(
      after < before
        ? `${listText(known)} ${plural(known, 'is', 'are')} unlikely to be the policy-optimal choice, so exploring ${plural(known, 'it', 'them')} spends quality for little to learn`
        : after > before
          ? `${listText(known)} may be the policy-optimal choice, so more traffic settles it`
          : "each arm's share follows its chance of being the policy-optimal choice",
    );
  if (unknown.length > 0)
    why.push(
      known.length === 0 && after < before
        ? `no sample yet favours ${listText(unknown)}, so exploration comes down toward its floor, which goes on measuring ${plural(unknown, 'it', 'them')}`
        : `only serving can measure ${listText(unknown)}`,
    );
  const bounds = `between ${pct(Math.min(params.exploration_share, params.min_exploration_share), 0)} and ${pct(params.exploration_share, 0)}`;
  return `Thompson exploration ${direction} (${bounds}): ${arms.join(', ')}; ${why.join('; ')}`;
}
