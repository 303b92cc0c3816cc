/**
 * Activities of the analysis task queue: loading what a cycle needs, running the analyzers, strategies
 * and coordinator, and recording decisions. Built by a factory over injected clients so tests pass real
 * local instances in.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import type { Decision, DecisionDraft, Target } from '../../domain/model';
import type { TargetsRepo } from '../../infra/db/repos/targets';
import type { DecisionsRepo } from '../../infra/db/repos/decisions';
import type { Logger } from '../../infra/logger';

export interface AnalysisDeps {
  targets: TargetsRepo;
  decisions: DecisionsRepo;
  logger: Logger;
}

export interface DecideInput {
  target: string;
  segments: string[];
  cycleId: string;
}

export function createAnalysisActivities(deps: AnalysisDeps) {
  return {
    /** Loads a target with its arms and segments. Non-retryable `TargetNotFound` when it does not exist. */
    async loadTarget(name: string): Promise<Target> {
      const target = await deps.targets.get(name);
      if (!target) throw ApplicationFailure.nonRetryable(`target "${name}" does not exist`, 'TargetNotFound');
      return target;
    },

    /**
     * Analyzes the target's aggregates and drafts one decision per segment. Until the data plane provides
     * aggregates, every segment gets a `no_action` draft that says what it looked at.
     */
    async decideCycle(input: DecideInput): Promise<DecisionDraft[]> {
      const drafts: DecisionDraft[] = [];
      for (const segment of input.segments) {
        const config = await deps.targets.currentConfig(input.target, segment);
        if (!config) {
          throw ApplicationFailure.nonRetryable(
            `target "${input.target}" has no routing config for segment "${segment}"`,
            'InvalidConfig',
          );
        }
        drafts.push({
          target: input.target,
          segment,
          strategy: 'none',
          kind: 'no_action',
          from_version: config.version,
          from_weights: config.weights,
          to_weights: null,
          canary_arm: null,
          baseline_arm: null,
          expected_impact: { cost: null, latency: null, quality: null },
          confidence: 1,
          safety_checks: [],
          rollback_plan: 'nothing to roll back',
          explanation: `No telemetry aggregates for ${input.target}/${segment} yet; routing config v${config.version} stays.`,
          requires_approval: false,
        });
      }
      return drafts;
    },

    /** Stores the drafts as decisions of this cycle; a retry stores nothing twice. */
    async recordDecisions(input: { cycleId: string; drafts: DecisionDraft[] }): Promise<Decision[]> {
      const out: Decision[] = [];
      for (const draft of input.drafts) {
        const { requires_approval, ...rest } = draft;
        const status = draft.kind === 'no_action' ? 'no_action' : requires_approval ? 'awaiting_approval' : 'approved';
        out.push(
          await deps.decisions.insert({ ...rest, id: randomUUID(), status, cycle_id: input.cycleId, rollout_id: null }),
        );
      }
      deps.logger.info({ cycleId: input.cycleId, decisions: out.map((d) => d.id) }, 'recorded decisions');
      return out;
    },
  };
}

export type AnalysisActivities = ReturnType<typeof createAnalysisActivities>;
