/**
 * Activities of the orchestration task queue: the light, idempotent writes a rollout makes (routing
 * config versions, the rollout read model, decision status) and the domain-event outbox. Built by a
 * factory over the process's container (app/compose.ts), which tests compose over the real services.
 * Every activity here is safe to retry: a retry after a crash finds what the first attempt wrote and
 * returns it.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { AppError, FAILURE_TYPES } from '../../domain/errors';
import { TOTAL_BASIS_POINTS, type Decision, type DecisionStatus, type Weights } from '../../domain/model';
import {
  stepTag,
  type NewRollout,
  type Rollout,
  type RolloutProgress,
} from '../../adapters/db/repos/rollouts';
import type { TargetsRepo } from '../../adapters/db/repos/targets';
import type { Container } from '../../app/compose';
import { checkpoint } from '../cancellation';
import { createPublishActivities, type PublishOptions } from '../integrations/publish';
import type {
  AppliedConfig,
  ApplyConfigInput,
  OrchestrationActivities,
  RestoreConfigInput,
  RollbackResult,
} from '../../workflows/contracts';

export type { AppliedConfig, ApplyConfigInput, OrchestrationActivities, RestoreConfigInput };

/** What the orchestration queue's activities use of the container. */
export type OrchestrationContainer = Pick<Container, 'repos' | 'logger' | 'env' | 'taskQueues' | 'temporal'>;

/** Translates the repositories' typed errors into non-retryable failures of the shared taxonomy. */
function permanent(err: unknown, what: string): never {
  if (err instanceof AppError) {
    if (err.type === 'not_found')
      throw ApplicationFailure.nonRetryable(`${what}: ${err.message}`, FAILURE_TYPES.TargetNotFound);
    if (err.type === 'precondition_failed') {
      throw ApplicationFailure.nonRetryable(`${what}: ${err.message}`, FAILURE_TYPES.StaleConfigVersion);
    }
    if (err.type === 'conflict') {
      throw ApplicationFailure.nonRetryable(
        `${what}: ${err.message}`,
        FAILURE_TYPES.RolloutConflict,
        err.details,
      );
    }
    if (err.type === 'validation')
      throw ApplicationFailure.nonRetryable(`${what}: ${err.message}`, FAILURE_TYPES.InvalidConfig);
  }
  throw err;
}

/** Weights a rollout may write: every arm of the target's, summing to all the traffic. */
async function checkWeights(
  targets: TargetsRepo,
  target: string,
  segment: string,
  weights: Weights,
): Promise<void> {
  const t = await targets.get(target);
  if (!t)
    throw ApplicationFailure.nonRetryable(`target "${target}" does not exist`, FAILURE_TYPES.TargetNotFound);
  if (!t.segments.includes(segment)) {
    throw ApplicationFailure.nonRetryable(
      `target "${target}" has no segment "${segment}"`,
      FAILURE_TYPES.TargetNotFound,
    );
  }
  const arms = new Set(t.arms.map((a) => a.id));
  const unknown = Object.keys(weights).filter((a) => !arms.has(a));
  if (unknown.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `weights name unknown arm(s) ${unknown.join(', ')} of "${target}"`,
      FAILURE_TYPES.InvalidConfig,
    );
  }
  const total = Object.values(weights).reduce((a, b) => a + b, 0);
  if (total !== TOTAL_BASIS_POINTS || Object.values(weights).some((w) => !Number.isInteger(w) || w < 0)) {
    throw ApplicationFailure.nonRetryable(
      `weights sum to ${total}, not ${TOTAL_BASIS_POINTS} basis points`,
      FAILURE_TYPES.InvalidConfig,
    );
  }
}

/**
 * Every activity of the orchestration task queue: the rollout writes and `publishDomainEvent`. With
 * `notify` (the default), each published event starts the notifyEvent workflow on the integrations queue
 * and returns: delivery never delays a rollout. Without it (no integrations worker) events are only stored.
 */
export function createOrchestrationActivities(c: OrchestrationContainer, opts: PublishOptions = {}) {
  return { ...createRolloutWrites(c), ...createPublishActivities(c, opts) };
}

/** The writes of a rollout; the targets repository of a cached container announces each version it writes. */
function createRolloutWrites(c: OrchestrationContainer) {
  const deps = {
    targets: c.repos.targets,
    decisions: c.repos.decisions,
    rollouts: c.repos.rollouts,
    logger: c.logger,
  };
  /**
   * The serving overrides a version written by this rollout carries when its decision is a rate_limit or
   * batching change: the current version's overrides with the decision's field set. Null otherwise
   * (the current overrides carry forward).
   */
  async function servingOfRollout(rolloutId: string, target: string, segment: string) {
    const rollout = await deps.rollouts.get(rolloutId);
    const change = rollout ? (await deps.decisions.get(rollout.decision_id))?.serving_change : null;
    if (!change) return null;
    const current = (await deps.targets.currentConfig(target, segment))?.serving ?? {};
    return { ...current, [change.arm]: { ...current[change.arm], [change.field]: change.to } };
  }

  /** One routing-config version; `TargetNotFound` when it does not exist. */
  async function requireVersion(target: string, segment: string, version: number) {
    const cfg = await deps.targets.configVersion(target, segment, version);
    if (!cfg) {
      throw ApplicationFailure.nonRetryable(
        `routing config ${target}/${segment} v${version} does not exist`,
        FAILURE_TYPES.TargetNotFound,
      );
    }
    return cfg;
  }

  return {
    /**
     * Records a new rollout (state `progressing`) and marks its decision `rolling_out`. Non-retryable
     * `RolloutConflict` when another rollout of the same target and segment is active.
     */
    async recordRolloutStart(input: NewRollout): Promise<Rollout> {
      try {
        const r = await deps.rollouts.create(input);
        await deps.decisions.setStatus(input.decision_id, 'rolling_out', input.id).catch((err: unknown) => {
          // A rollout started for a decision id the database does not know (e.g. a manual one) still runs.
          if (!(err instanceof AppError && err.type === 'not_found')) throw err;
        });
        return r;
      } catch (err) {
        return permanent(err, `rollout ${input.id}`);
      }
    },

    /** Updates the rollout's read model: state, stage, weights, verdicts. Idempotent (last write wins). */
    async recordRolloutState(input: { rolloutId: string } & RolloutProgress): Promise<void> {
      const { rolloutId, ...progress } = input;
      try {
        await deps.rollouts.update(rolloutId, progress);
      } catch (err) {
        permanent(err, `rollout ${rolloutId}`);
      }
    },

    /**
     * Writes the weights of one rollout step as a new routing-config version after `expectedVersion`
     * (without weights, those of `expectedVersion` again), with the serving override of the rollout's
     * decision when it is a rate_limit or batching change.
     * Idempotent per rollout and step: a retry returns the version the first attempt wrote. Fails
     * non-retryably with `TargetNotFound`, `InvalidConfig` or `StaleConfigVersion` (someone else changed
     * the config: the rollout must not overwrite it); `CancelledFailure` when its run was cancelled
     * before the write.
     */
    async applyRoutingConfig(input: ApplyConfigInput): Promise<AppliedConfig> {
      const existing = await deps.rollouts.configWrittenBy(
        input.target,
        input.segment,
        input.rolloutId,
        input.step,
      );
      if (existing) return { version: existing.version, weights: existing.weights, reused: true };
      const weights =
        input.weights ?? (await requireVersion(input.target, input.segment, input.expectedVersion)).weights;
      await checkWeights(deps.targets, input.target, input.segment, weights);
      // A run cancelled meanwhile (a cycle applying an exploration) writes nothing.
      checkpoint(`writing ${input.step}`);
      try {
        const serving = await servingOfRollout(input.rolloutId, input.target, input.segment);
        const cfg = await deps.targets.appendConfig({
          target: input.target,
          segment: input.segment,
          expectedVersion: input.expectedVersion,
          weights,
          ...(serving ? { serving } : {}),
          rolloutId: input.rolloutId,
          reason: `${stepTag(input.step)}${input.reason}`,
        });
        deps.logger.info(
          { rollout: input.rolloutId, step: input.step, version: cfg.version },
          'routing config applied',
        );
        return { version: cfg.version, weights: cfg.weights, reused: false };
      } catch (err) {
        return permanent(err, `apply ${input.step} of ${input.rolloutId}`);
      }
    },

    /**
     * Restores the exact weights of `restoreVersion` as a new version on top of whatever is current
     * (history stays append-only). Idempotent per rollback. A concurrent writer makes it retry on the
     * new current version; `TargetNotFound` when the version to restore does not exist.
     */
    async restoreRoutingConfig(input: RestoreConfigInput): Promise<RollbackResult> {
      const { step } = input;
      const existing = await deps.rollouts.configWrittenBy(
        input.target,
        input.segment,
        input.rollbackId,
        step,
      );
      if (existing)
        return {
          restoredVersion: input.restoreVersion,
          newVersion: existing.version,
          weights: existing.weights,
        };
      const previous = await requireVersion(input.target, input.segment, input.restoreVersion);
      const current = await deps.targets.currentConfig(input.target, input.segment);
      if (!current)
        throw ApplicationFailure.nonRetryable(
          `target "${input.target}" has no routing config`,
          FAILURE_TYPES.TargetNotFound,
        );
      if (input.expectedCurrentVersion !== undefined && current.version !== input.expectedCurrentVersion) {
        throw ApplicationFailure.nonRetryable(
          `routing config of ${input.target}/${input.segment} moved on to v${current.version} (expected v${input.expectedCurrentVersion}); not restoring over it`,
          FAILURE_TYPES.StaleConfigVersion,
        );
      }
      // A racing writer surfaces as a retryable error: the next attempt appends on the new current version.
      const cfg = await deps.targets.appendConfig({
        target: input.target,
        segment: input.segment,
        expectedVersion: current.version,
        weights: previous.weights,
        // A rollback restores the version exactly, serving overrides included.
        serving: previous.serving ?? {},
        rolloutId: input.rollbackId,
        reason: `${stepTag(step)}${input.reason}`,
      });
      deps.logger.warn(
        { rollback: input.rollbackId, restored: input.restoreVersion, version: cfg.version },
        'routing config restored',
      );
      return { restoredVersion: input.restoreVersion, newVersion: cfg.version, weights: cfg.weights };
    },

    /** Sets a decision's status (and its rollout). `InvalidInput` for an unknown decision. */
    async setDecisionStatus(input: {
      decisionId: string;
      status: DecisionStatus;
      rolloutId?: string;
    }): Promise<Decision> {
      try {
        return await deps.decisions.setStatus(input.decisionId, input.status, input.rolloutId ?? null);
      } catch (err) {
        if (err instanceof AppError && err.type === 'not_found') {
          throw ApplicationFailure.nonRetryable(err.message, FAILURE_TYPES.InvalidInput);
        }
        throw err;
      }
    },
  } satisfies OrchestrationActivities;
}
