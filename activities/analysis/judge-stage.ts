/**
 * The canary-judging activity of the analysis task queue: loads baseline and canary aggregates for a
 * stage's window and asks the pure judge (domain/intelligence/judge.ts) for a verdict.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { WindowAggregate } from '../../domain/aggregate';
import { judgeCanary, type Verdict } from '../../domain/intelligence/judge';
import { checkSlo, type SloCheck } from '../../domain/intelligence/slo';
import type { Target } from '../../domain/model';
import type { CheckSlosInput, JudgeStageInput } from '../../workflows/contracts';
import { FAILURE_TYPES } from '../../domain/errors';

export type { CheckSlosInput, JudgeStageInput };

/** The slice of the aggregates repository (pipeline/adapters/store.ts) the judge reads. */
export interface AggregatesSource {
  query(q: {
    target: string;
    segment?: string;
    arm?: string;
    from: string;
    to: string;
  }): Promise<WindowAggregate[]>;
}

export interface JudgeDeps {
  aggregates?: AggregatesSource | undefined;
  /** Where the SLO check reads the target's policy. */
  targets?: { get(name: string): Promise<Target | null> } | undefined;
}

export function createJudgeActivities(deps: JudgeDeps) {
  return {
    /**
     * Judges one canary stage: pass (promote), marginal (extend the bake) or fail (roll back), with the
     * numbers behind it. Without an aggregates source every verdict is marginal with that reason, so a
     * misconfigured worker never promotes blindly. `InvalidInput` for an empty or inverted window.
     */
    async judgeStage(input: JudgeStageInput): Promise<Verdict> {
      if (!(Date.parse(input.from) < Date.parse(input.to))) {
        throw ApplicationFailure.nonRetryable(
          `judge window [${input.from}, ${input.to}) is empty`,
          FAILURE_TYPES.InvalidInput,
        );
      }
      if (!deps.aggregates) {
        return {
          outcome: 'marginal',
          reasons: ['no aggregates source is configured on the analysis worker'],
          metrics: [],
          samples: { baseline: 0, canary: 0 },
        };
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
     * `insufficient` below `minSamples` requests or without an aggregates source; `TargetNotFound`
     * when the target is gone; `InvalidInput` for an empty window.
     */
    async checkSlos(input: CheckSlosInput): Promise<SloCheck> {
      if (!(Date.parse(input.from) < Date.parse(input.to))) {
        throw ApplicationFailure.nonRetryable(
          `SLO window [${input.from}, ${input.to}) is empty`,
          FAILURE_TYPES.InvalidInput,
        );
      }
      const target = await deps.targets?.get(input.target);
      if (!target)
        throw ApplicationFailure.nonRetryable(
          `target "${input.target}" does not exist`,
          FAILURE_TYPES.TargetNotFound,
        );
      if (!deps.aggregates) return { outcome: 'insufficient', breaches: [], samples: 0, metrics: {} };
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
