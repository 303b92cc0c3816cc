import {
  ApplicationFailure,
  ChildWorkflowFailure,
  ParentClosePolicy,
  continueAsNew,
  executeChild,
  proxyActivities,
  setCurrentDetails,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { AnalysisActivities } from '../activities/analysis';
import type { PublishActivities } from '../activities/orchestration';
import { workflowIds } from '../domain/names';
import type { HealthWatchInput, HealthWatchResult } from './messages';
import { rollback } from './rollback';
import { SegmentKey, TargetKey } from './search-attributes';

/** Checks per run before continuing as new, so a week-long watch keeps a short history. */
const CHECKS_PER_RUN = 100;

/**
 * Watches a promoted change (id `health-<target>`): every `intervalSeconds` it has the analysis queue
 * judge the promoted arm's last interval against the baseline arm's pre-change window, and on a fail
 * verdict publishes `anomaly.detected` and starts `rollback` to `restoreVersion` (only while
 * `watchedVersion` is still current: a later change is never overwritten; the watch then ends
 * `superseded`). Ends `healthy` at `until`. Continues as new every 100 checks.
 */
export async function healthWatch(input: HealthWatchInput): Promise<HealthWatchResult> {
  const { judgeStage } = proxyActivities<AnalysisActivities>({
    taskQueue: input.taskQueues.analysis,
    startToCloseTimeout: '2 minutes',
    retry: {
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      maximumAttempts: 10,
    },
  });
  const { publishDomainEvent } = proxyActivities<PublishActivities>({
    taskQueue: input.taskQueues.orchestration,
    startToCloseTimeout: '20 seconds',
    retry: {
      initialInterval: '500 milliseconds',
      backoffCoefficient: 2,
      maximumInterval: '30 seconds',
      maximumAttempts: 15,
    },
  });
  const until = Date.parse(input.until);
  let checks = input.checks;
  const where = `${input.target}/${input.segment}`;

  for (let inRun = 0; inRun < CHECKS_PER_RUN; inRun++) {
    const remaining = until - Date.now();
    if (remaining <= 0) break;
    setCurrentDetails(
      `Watching **${input.promotedArm}** on ${where} against the pre-change **${input.baselineArm}** · ${checks} check(s) passed · until ${input.until}`,
    );
    const from = new Date().toISOString();
    await sleep(Math.min(input.intervalSeconds * 1000, remaining));
    const verdict = await judgeStage.executeWithOptions(
      { summary: `judge ${input.promotedArm} against the pre-change baseline` },
      [
        {
          target: input.target,
          segment: input.segment,
          baselineArm: input.baselineArm,
          canaryArm: input.promotedArm,
          from,
          to: new Date().toISOString(),
          baselineWindow: input.baselineWindow,
          thresholds: { min_samples_per_arm: input.minSamplesPerArm },
        },
      ],
    );
    checks++;
    if (verdict.outcome !== 'fail') continue;

    const reason = `health watch: ${verdict.reasons.join('; ')}`;
    await publishDomainEvent.executeWithOptions({ summary: 'publish anomaly.detected' }, [
      {
        id: `${workflowInfo().workflowId}:${input.watchedVersion}:anomaly-${checks}`,
        type: 'anomaly.detected',
        version: 1,
        occurred_at: new Date().toISOString(),
        target: input.target,
        segment: input.segment,
        summary: `${input.promotedArm} degraded on ${where} after promotion`,
        data: {
          rollout_id: input.rolloutId,
          decision_id: input.decisionId,
          reasons: verdict.reasons,
          metrics: verdict.metrics,
        },
      },
    ]);
    try {
      await executeChild(rollback, {
        workflowId: workflowIds.rollback(input.target, input.segment, input.restoreVersion),
        taskQueue: input.taskQueues.orchestration,
        args: [
          {
            target: input.target,
            segment: input.segment,
            restoreVersion: input.restoreVersion,
            trigger: 'health_watch',
            reason,
            rolloutId: input.rolloutId,
            decisionId: input.decisionId,
            taskQueues: input.taskQueues,
            expectedCurrentVersion: input.watchedVersion,
          },
        ],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        typedSearchAttributes: [
          { key: TargetKey, value: input.target },
          { key: SegmentKey, value: input.segment },
        ],
        staticSummary: `Roll back ${where} to v${input.restoreVersion} (health watch): ${reason}`.slice(
          0,
          400,
        ),
      });
    } catch (err) {
      const cause = err instanceof ChildWorkflowFailure ? err.cause : undefined;
      const inner = cause instanceof ApplicationFailure ? cause : cause?.cause;
      if (inner instanceof ApplicationFailure && inner.type === 'StaleConfigVersion') {
        return { outcome: 'superseded', checks, reason: inner.message };
      }
      throw err;
    }
    setCurrentDetails(`Rolled back ${where} to v${input.restoreVersion}: ${reason}`);
    return { outcome: 'rolled_back', checks, reason };
  }
  if (Date.now() < until) await continueAsNew<typeof healthWatch>({ ...input, checks });
  return { outcome: 'healthy', checks, reason: `no degradation in ${checks} check(s)` };
}
