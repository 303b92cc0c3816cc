/**
 * Activities of the analysis task queue: loading what a cycle needs, running the analyzers, strategies
 * and coordinator, and recording decisions. Built by a factory over the process's container (app/compose.ts), which
 * tests compose over the real services.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import type { Decision, DecisionDraft, Target } from '../../domain/model';
import type { Container } from '../../app/compose';
import { runIntelligence } from '../../domain/intelligence/cycle';
import { fnv1a32 } from '../../domain/routing';
import type { AnalysisActivities, DecideInput } from '../../workflows/contracts';
import { checkpoint } from '../cancellation';
import { createJudgeActivities } from './judge-stage';
import { FAILURE_TYPES } from '../../domain/errors';

export type { AnalysisActivities, DecideInput };

/** What the analysis queue's activities use of the container. */
export type AnalysisContainer = Pick<Container, 'repos' | 'logger' | 'env'>;

/**
 * Every activity of the analysis task queue. The canary judge and the cycle read window aggregates
 * from the store; analysis reports are stored; an active rollout blocks new changes in its segment; a
 * cycle reads the last ANALYSIS_LOOKBACK_MINUTES.
 */
export function createAnalysisActivities(c: AnalysisContainer) {
  const deps = {
    targets: c.repos.targets,
    decisions: c.repos.decisions,
    aggregates: c.repos.aggregates,
    reports: c.repos.analysisReports,
    rollouts: c.repos.rollouts,
    logger: c.logger,
    lookbackMinutes: c.env.ANALYSIS_LOOKBACK_MINUTES,
  };
  return {
    ...createJudgeActivities(c),

    /** Loads a target with its arms and segments. Non-retryable `TargetNotFound` when it does not exist. */
    async loadTarget(name: string): Promise<Target> {
      const target = await deps.targets.get(name);
      if (!target)
        throw ApplicationFailure.nonRetryable(
          `target "${name}" does not exist`,
          FAILURE_TYPES.TargetNotFound,
        );
      return target;
    },

    /**
     * Runs the analyzers, strategies and coordinator (domain/intelligence) over the target's window
     * aggregates of the last ANALYSIS_LOOKBACK_MINUTES, stores the analysis report, and returns one or
     * more decision drafts per segment (`no_action` with its reasons when nothing should change).
     * Non-retryable `InvalidConfig` when a segment has no routing config; `CancelledFailure` when the
     * cycle was cancelled (heartbeats at each step, stores no report then).
     */
    async decideCycle(input: DecideInput): Promise<DecisionDraft[]> {
      checkpoint('loading the target');
      const target = await deps.targets.get(input.target);
      if (!target)
        throw ApplicationFailure.nonRetryable(
          `target "${input.target}" does not exist`,
          FAILURE_TYPES.TargetNotFound,
        );
      const routing: Record<string, { version: number; weights: Record<string, number> }> = {};
      const activeRollouts: string[] = [];
      for (const segment of input.segments) {
        const config = await deps.targets.currentConfig(input.target, segment);
        if (!config) {
          throw ApplicationFailure.nonRetryable(
            `target "${input.target}" has no routing config for segment "${segment}"`,
            FAILURE_TYPES.InvalidConfig,
          );
        }
        routing[segment] = { version: config.version, weights: config.weights };
        if (await deps.rollouts.active(input.target, segment)) activeRollouts.push(segment);
      }
      checkpoint('reading the windows');
      const now = new Date();
      const from = new Date(now.getTime() - deps.lookbackMinutes * 60_000);
      const aggregates = (
        await deps.aggregates.query({ target: input.target, from: from.toISOString(), to: now.toISOString() })
      ).filter((a) => input.segments.includes(a.segment));
      const out = runIntelligence({
        target: input.target,
        policy: target.policy,
        arms: target.arms,
        routing,
        aggregates,
        active_rollouts: activeRollouts,
        now: now.toISOString(),
        // Deterministic per cycle: a retried activity draws the same posterior samples.
        seed: fnv1a32(input.cycleId),
      });
      // A cancelled cycle stores no report of an analysis nobody will act on.
      checkpoint('storing the report');
      await deps.reports.upsert({
        cycle_id: input.cycleId,
        target: input.target,
        segments: input.segments,
        window_from: from.toISOString(),
        window_to: now.toISOString(),
        report: out.report,
        candidates: out.candidates,
      });
      deps.logger.info(
        {
          target: input.target,
          windows: aggregates.length,
          decisions: out.decisions.map((d) => `${d.segment}:${d.kind}`),
        },
        'cycle analyzed',
      );
      return out.decisions.filter((d) => input.segments.includes(d.segment));
    },

    /**
     * Stores the drafts as decisions of this cycle; a retry stores nothing twice. `CancelledFailure`
     * when the cycle was cancelled before anything was stored.
     */
    async recordDecisions(input: { cycleId: string; drafts: DecisionDraft[] }): Promise<Decision[]> {
      // Given up before the first insert or not at all: the cycle learns of every decision stored, so
      // its cleanup after a cancel can resolve them.
      checkpoint('storing the decisions');
      const out: Decision[] = [];
      for (const draft of input.drafts) {
        const { requires_approval, ...rest } = draft;
        const status =
          draft.kind === 'no_action' ? 'no_action' : requires_approval ? 'awaiting_approval' : 'approved';
        out.push(
          await deps.decisions.insert({
            ...rest,
            serving_change: rest.serving_change ?? null,
            id: randomUUID(),
            status,
            cycle_id: input.cycleId,
            rollout_id: null,
          }),
        );
      }
      deps.logger.info({ cycleId: input.cycleId, decisions: out.map((d) => d.id) }, 'recorded decisions');
      return out;
    },
  } satisfies AnalysisActivities;
}
