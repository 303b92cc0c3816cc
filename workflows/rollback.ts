import {
  ParentClosePolicy,
  executeChild,
  patched,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { orchestrationActivities } from './activities';
import type { RollbackInput, RollbackResult } from './contracts';
import { workflowIds } from '../domain/names';
import { RolloutStateKey, SegmentKey, TargetKey } from './search-attributes';

/**
 * Restores the exact routing-config version `restoreVersion` as a new version (compensation of a
 * rollout step; history stays append-only), records why, marks the decision rolled back and publishes
 * `rollout.rolled_back`. Its own run (`rollback-<target>-<segment>-v<version>`) so ops see every undo.
 * Started by a failed or inconclusive stage, an abort, or the health watch. Fails with `TargetNotFound`
 * when the version to restore no longer exists.
 */
export async function rollback(input: RollbackInput): Promise<RollbackResult> {
  const { workflowId, runId } = workflowInfo();
  const acts = orchestrationActivities(input.taskQueues);

  upsertSearchAttributes([{ key: RolloutStateKey, value: 'rolling_back' }]);
  setCurrentDetails(
    `Restoring ${input.target}/${input.segment} to **v${input.restoreVersion}** (${input.trigger}): ${input.reason}`,
  );

  const result = await acts.restoreRoutingConfig.executeWithOptions(
    { summary: `restore ${input.target}/${input.segment} to v${input.restoreVersion}` },
    [
      {
        // The run id keeps a later rollback to the same version (same workflow id) from reusing this write.
        rollbackId: workflowId,
        step: `restore-v${input.restoreVersion}-${runId}`,
        target: input.target,
        segment: input.segment,
        restoreVersion: input.restoreVersion,
        reason: `rollback to v${input.restoreVersion} (${input.trigger}): ${input.reason}`,
        ...(input.expectedCurrentVersion !== undefined
          ? { expectedCurrentVersion: input.expectedCurrentVersion }
          : {}),
      },
    ],
  );

  if (input.decisionId) {
    await acts.setDecisionStatus.executeWithOptions({ summary: 'mark decision rolled back' }, [
      { decisionId: input.decisionId, status: 'rolled_back' },
    ]);
  }
  const afterPromotion =
    input.trigger === 'health_watch' ||
    (input.trigger === 'manual' && patched('manual-revert-records-rollout'));
  if (input.rolloutId && afterPromotion) {
    // After promotion the rollout run is over (a health watch's verdict, or a person's revert of the
    // promoted change): the rollback is what changes its recorded outcome.
    await acts.recordRolloutState.executeWithOptions({ summary: 'record rollout rolled back' }, [
      {
        rolloutId: input.rolloutId,
        state: 'rolled_back',
        to_version: result.newVersion,
        reason: input.reason,
      },
    ]);
  }
  await acts.publishDomainEvent.executeWithOptions({ summary: 'publish rollout.rolled_back' }, [
    {
      id: `${workflowId}:v${result.newVersion}:rolled-back`,
      type: 'rollout.rolled_back',
      version: 1,
      occurred_at: new Date().toISOString(),
      target: input.target,
      segment: input.segment,
      summary: `Rolled back ${input.target}/${input.segment} to v${input.restoreVersion} (${input.trigger})`,
      data: {
        rollback_id: workflowId,
        rollout_id: input.rolloutId,
        decision_id: input.decisionId,
        trigger: input.trigger,
        reason: input.reason,
        restored_version: input.restoreVersion,
        new_version: result.newVersion,
        weights: result.weights,
      },
    },
  ]);
  upsertSearchAttributes([{ key: RolloutStateKey, value: 'rolled_back' }]);
  setCurrentDetails(
    `Restored ${input.target}/${input.segment} to the weights of **v${input.restoreVersion}** as v${result.newVersion} (${input.trigger}): ${input.reason}`,
  );
  return result;
}

/**
 * Runs `rollback` as a child of the caller (a failed rollout or the health watch) under its business id,
 * abandoned on the parent's close so the restore finishes even if the parent is terminated meanwhile.
 * `label` names the trigger in the run's summary.
 */
export function executeRollback(
  input: RollbackInput,
  label: string = input.trigger,
): Promise<RollbackResult> {
  return executeChild(rollback, {
    workflowId: workflowIds.rollback(input.target, input.segment, input.restoreVersion),
    taskQueue: input.taskQueues.orchestration,
    args: [input],
    parentClosePolicy: ParentClosePolicy.ABANDON,
    typedSearchAttributes: [
      { key: TargetKey, value: input.target },
      { key: SegmentKey, value: input.segment },
    ],
    staticSummary:
      `Roll back ${input.target}/${input.segment} to v${input.restoreVersion} (${label}): ${input.reason}`.slice(
        0,
        400,
      ),
  });
}
