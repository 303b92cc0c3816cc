/**
 * When an optimization cycle has something for Claude to propose (`draftPromptVariants`): a segment
 * whose prompt experiment concluded with a winner, or one that serves fewer prompt variants of its
 * primary model than the target policy's `prompt_proposals.min_live_variants` (default 0: winners
 * only). Pure (safe in workflow code), shared by the cycle, which starts the child only then, and the
 * proposal activity.
 */
import type { Arm, Decision, Target, Weights } from '../model';

/** The arm with the most traffic, and how many arms with traffic share its provider and model. */
export function livePromptVariants(
  arms: readonly Arm[],
  weights: Weights,
): { primary: Arm | undefined; variants: number } {
  const live = Object.entries(weights).filter(([, w]) => w > 0);
  const top = [...live].sort((a, b) => b[1] - a[1])[0]?.[0];
  const primary = arms.find((a) => a.id === top);
  const variants = primary
    ? arms.filter(
        (a) =>
          live.some(([id]) => id === a.id) && a.provider === primary.provider && a.model === primary.model,
      ).length
    : 0;
  return { primary, variants };
}

/** The winning arm of each segment's concluded prompt experiment among the cycle's decisions. */
export function experimentWinners(decisions: readonly Decision[]): Map<string, Decision> {
  return new Map(
    decisions
      .filter((d) => d.kind === 'prompt_variant' && d.canary_arm && d.canary_arm !== d.baseline_arm)
      .map((d) => [d.segment, d]),
  );
}

/**
 * The segments a cycle asks for prompt proposals: each with a concluded experiment, and each whose
 * routing (as the cycle's decisions saw it) serves fewer than the policy's minimum of live variants.
 * A segment none of whose decisions carries its weights is included when a minimum is set: the
 * proposal activity reads its live config and decides.
 */
export function segmentsToPropose(
  target: Pick<Target, 'arms' | 'policy'>,
  segments: readonly string[],
  decisions: readonly Decision[],
): string[] {
  const winners = experimentWinners(decisions);
  const min = target.policy.prompt_proposals?.min_live_variants ?? 0;
  return segments.filter((segment) => {
    if (winners.has(segment)) return true;
    if (min <= 0) return false;
    const weights = decisions.find((d) => d.segment === segment && d.from_weights)?.from_weights;
    return !weights || livePromptVariants(target.arms, weights).variants < min;
  });
}
