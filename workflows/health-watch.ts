import {
  ApplicationFailure,
  ChildWorkflowFailure,
  continueAsNew,
  patched,
  setCurrentDetails,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import { judgeActivities, orchestrationActivities } from './activities';
import type { HealthWatchInput, HealthWatchResult } from './contracts';
import { executeRollback } from './rollback';

/** Checks per run before continuing as new, so a week-long watch keeps a short history. */
const CHECKS_PER_RUN = 100;

/** Consecutive degraded checks that start a rollback unless the input says otherwise. */
const DEFAULT_DEGRADED_CHECKS_TO_ROLLBACK = 2;

/**
 * Watches a promoted change (id `health-<target>`): every `intervalSeconds` it has the analysis queue
 * judge the promoted arm's last interval against the baseline arm's pre-change window, and check it
 * against the SLOs of the target's policy (latency at the SLO percentile, error rate, quality floor).
 * A check is degraded when the judge fails or an SLO is breached; after `degradedChecksToRollback`
 * consecutive degraded checks (default 2: one noisy window never rolls back) it publishes
 * `anomaly.detected` and starts `rollback` to `restoreVersion` (only while `watchedVersion` is still
 * current: a later change is never overwritten; the watch then ends `superseded`). Ends `healthy` at
 * `until`. Continues as new every 100 checks, carrying the strikes.
 */
export async function healthWatch(input: HealthWatchInput): Promise<HealthWatchResult> {
  const { judgeStage, checkSlos } = judgeActivities(input.taskQueues);
  const { publishDomainEvent } = orchestrationActivities(input.taskQueues);
  const until = Date.parse(input.until);
  let checks = input.checks;
  // Runs recorded before SLOs were checked rolled back on the first failed verdict.
  const withSlo = patched('health-watch-slo-persistence');
  const needed = withSlo ? (input.degradedChecksToRollback ?? DEFAULT_DEGRADED_CHECKS_TO_ROLLBACK) : 1;
  let strikes = input.strikes ?? 0;
  const where = `${input.target}/${input.segment}`;

  for (let inRun = 0; inRun < CHECKS_PER_RUN; inRun++) {
    const remaining = until - Date.now();
    if (remaining <= 0) break;
    setCurrentDetails(
      `Watching **${input.promotedArm}** on ${where} against the pre-change **${input.baselineArm}**${withSlo ? ' and the SLOs' : ''} · ${checks} check(s) made${strikes > 0 ? ` · ${strikes}/${needed} consecutive degraded` : ''} · until ${input.until}`,
    );
    const from = new Date().toISOString();
    await sleep(Math.min(input.intervalSeconds * 1000, remaining));
    const to = new Date().toISOString();
    const verdict = await judgeStage.executeWithOptions(
      { summary: `judge ${input.promotedArm} against the pre-change baseline` },
      [
        {
          target: input.target,
          segment: input.segment,
          baselineArm: input.baselineArm,
          canaryArm: input.promotedArm,
          from,
          to,
          baselineWindow: input.baselineWindow,
          thresholds: { min_samples_per_arm: input.minSamplesPerArm },
        },
      ],
    );
    const slo = withSlo
      ? await checkSlos.executeWithOptions({ summary: `check ${input.promotedArm} against the SLOs` }, [
          {
            target: input.target,
            segment: input.segment,
            arm: input.promotedArm,
            from,
            to,
            baselineArm: input.baselineArm,
            baselineWindow: input.baselineWindow,
            minSamples: input.minSamplesPerArm,
          },
        ])
      : null;
    checks++;
    const problems = [
      ...(verdict.outcome === 'fail' ? verdict.reasons : []),
      ...(slo?.outcome === 'breach' ? slo.breaches.map((b) => `SLO breached: ${b}`) : []),
    ];
    strikes = problems.length > 0 ? strikes + 1 : 0;
    if (strikes < needed) continue;

    const reason = `health watch${needed > 1 ? ` (${strikes} consecutive degraded checks)` : ''}: ${problems.join('; ')}`;
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
          reasons: withSlo ? problems : verdict.reasons,
          metrics: verdict.metrics,
          ...(slo ? { slo } : {}),
        },
      },
    ]);
    try {
      await executeRollback(
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
        'health watch',
      );
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
  if (Date.now() < until)
    await continueAsNew<typeof healthWatch>({ ...input, checks, ...(withSlo ? { strikes } : {}) });
  return { outcome: 'healthy', checks, reason: `no degradation in ${checks} check(s)` };
}
