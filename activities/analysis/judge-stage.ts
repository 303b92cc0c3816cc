/**
 * The canary-judging activity of the analysis task queue: loads baseline and canary aggregates for a
 * stage's window and asks the pure judge (domain/intelligence/judge.ts) for a verdict.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { judgeCanary, type Verdict } from '../../domain/intelligence/judge';
import { checkSlo, type SloCheck } from '../../domain/intelligence/slo';
import type { CheckSlosInput, JudgeStageInput } from '../../workflows/contracts';
import { FAILURE_TYPES } from '../../domain/errors';
import type { Container } from '../../app/compose';

export type { CheckSlosInput, JudgeStageInput };

/** The canary judge and the SLO check of the analysis queue, over the store's window aggregates. */
export function createJudgeActivities(c: Pick<Container, 'repos'>) {
  const deps = { aggregates: c.repos.aggregates, targets: c.repos.targets };
  return {
    /**
     * Judges one canary stage: pass (promote), marginal (extend the bake) or fail (roll back), with the
     * numbers behind it. `InvalidInput` for an empty or inverted window.
     */
    async judgeStage(input: JudgeStageInput): Promise<Verdict> {
      if (!(Date.parse(input.from) < Date.parse(input.to))) {
        throw ApplicationFailure.nonRetryable(
          `judge window [${input.from}, ${input.to}) is empty`,
          FAILURE_TYPES.InvalidInput,
        );
      }
      const window = { target: input.target, segment: input.segment, from: input.from, to: input.to };
      const [baseline, canary] = await Promise.all([
        deps.aggregates.query({ ...window, ...input.baselineWindow, arm: input.baselineArm }),
        deps.aggregates.query({ ...window, arm: input.canaryArm }),
      ]);
      return judgeCanary({ baseline, canary, thresholds: input.thresholds });
    },

    /**
     * Checks the serving arm's window [from, to) against the SLOs of the target's policy as it is now
     * (latency at the policy percentile, error rate, quality floor; domain/intelligence/slo.ts).
     * `insufficient` below `minSamples` requests; `TargetNotFound`
     * when the target is gone; `InvalidInput` for an empty window.
     */
    async checkSlos(input: CheckSlosInput): Promise<SloCheck> {
      if (!(Date.parse(input.from) < Date.parse(input.to))) {
        throw ApplicationFailure.nonRetryable(
          `SLO window [${input.from}, ${input.to}) is empty`,
          FAILURE_TYPES.InvalidInput,
        );
      }
      const target = await deps.targets.get(input.target);
      if (!target)
        throw ApplicationFailure.nonRetryable(
          `target "${input.target}" does not exist`,
          FAILURE_TYPES.TargetNotFound,
        );
      const where = { target: input.target, segment: input.segment };
      const [live, baseline] = await Promise.all([
        deps.aggregates.query({ ...where, arm: input.arm, from: input.from, to: input.to }),
        deps.aggregates.query({ ...where, arm: input.baselineArm, ...input.baselineWindow }),
      ]);
      return checkSlo({ live, baseline, policy: target.policy, minSamples: input.minSamples });
    },
  };
}

export type JudgeActivities = ReturnType<typeof createJudgeActivities>;
