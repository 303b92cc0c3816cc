import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  ParentClosePolicy,
  condition,
  patched,
  proxyActivities,
  startChild,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { AnalysisActivities } from '../activities/analysis';
import type { OrchestrationActivities, PublishActivities } from '../activities/orchestration';
import type { DomainEventType } from '../domain/domain-events';
import { TOTAL_BASIS_POINTS, type RolloutState, type Weights } from '../domain/model';
import { workflowIds } from '../domain/names';
import { canaryWeights } from '../domain/routing';
import { describeServingChange, servingVerdict, windowBefore } from '../domain/intelligence/serving-rollout';
import {
  abortRolloutSignal,
  approveStageUpdate,
  pauseRolloutSignal,
  resumeRolloutSignal,
  rolloutStatusQuery,
  type AbortRequest,
  type ApproveStageRequest,
  type RollbackTrigger,
  type RolloutInput,
  type RolloutResult,
  type RolloutStatus,
  type StageVerdict,
} from './messages';
import { healthWatch } from './health-watch';
import { executeRollback } from './rollback';
import { RolloutStateKey, SegmentKey, TargetKey } from './search-attributes';
import { WRITE_RETRY } from './retry-policies';

const pct = (bps: number) => `${bps / 100}%`;

function formatWeights(w: Weights | null): string {
  if (!w) return 'unchanged';
  return Object.entries(w)
    .filter(([, v]) => v > 0)
    .map(([arm, v]) => `${arm} ${pct(v)}`)
    .join(', ');
}

/**
 * A canary rollout of one decision (id `rollout-<target>-<decision id>`): per stage it writes a new
 * routing-config version, bakes on a durable timer, and has the analysis queue judge canary against
 * baseline on the stage's window. Pass promotes to the next stage; marginal extends the bake up to
 * `maxBakeExtensions` times and then rolls back (an inconclusive canary is not promoted blind); fail
 * rolls back at once through the `rollback` child workflow, which restores `fromVersion` exactly.
 *
 * With `serving` (a rate_limit or batching decision) it is a before/after canary: one stage writes the
 * serving override with unchanged weights, and each bake judges the arm's windows after the change
 * against its own windows of equal span before it, plus the target's SLOs (domain/intelligence/
 * serving-rollout.ts); a rollback restores the previous version's serving values with its weights.
 *
 * Messages: `pauseRolloutSignal` holds progression (the current weights keep serving and the bake keeps
 * collecting; no verdict acts until `resumeRolloutSignal`), `abortRolloutSignal` rolls back and ends
 * `aborted`, `approveStageUpdate` releases a stage that requires a person, `rolloutStatusQuery` reads
 * the stage, weights and every verdict. Wrong-moment semantics are documented in ./messages.ts.
 *
 * Fails with the activity's type (`TargetNotFound`, `InvalidConfig`, `StaleConfigVersion`,
 * `RolloutConflict`) when a step fails for good; nothing is rolled back over a config someone else wrote.
 */
export async function canaryRollout(input: RolloutInput): Promise<RolloutResult> {
  const rolloutId = workflowInfo().workflowId;
  const acts = proxyActivities<OrchestrationActivities>({
    taskQueue: input.taskQueues.orchestration,
    startToCloseTimeout: '20 seconds',
    retry: WRITE_RETRY,
  });
  const { publishDomainEvent } = proxyActivities<PublishActivities>({
    taskQueue: input.taskQueues.orchestration,
    startToCloseTimeout: '20 seconds',
    retry: WRITE_RETRY,
  });
  const { judgeStage, checkSlos } = proxyActivities<AnalysisActivities>({
    taskQueue: input.taskQueues.analysis,
    startToCloseTimeout: '2 minutes',
    retry: {
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      maximumAttempts: 10,
    },
  });

  let state: RolloutState = 'pending';
  let stage = 0;
  let weights: Weights | null = null;
  let version = input.fromVersion;
  let paused = false;
  let pauses = 0;
  let abortRequest: AbortRequest | null = null;
  let awaitingApproval: number | null = null;
  const approved = new Set<number>();
  const verdicts: StageVerdict[] = [];
  let reason: string | null = null;
  let rollbackId: string | null = null;
  let finishing = false;

  const status = (): RolloutStatus => ({
    rolloutId,
    decisionId: input.decisionId,
    target: input.target,
    segment: input.segment,
    state,
    stage,
    stages: input.stages,
    weights,
    configVersion: version,
    paused,
    awaitingApproval,
    verdicts,
    reason,
    rollbackId,
  });

  setHandler(rolloutStatusQuery, status);
  setHandler(pauseRolloutSignal, () => {
    // Pausing twice, or once the outcome is being written, changes nothing (documented no-op).
    if (!finishing) paused = true;
  });
  setHandler(resumeRolloutSignal, () => {
    paused = false;
  });
  setHandler(abortRolloutSignal, (req) => {
    if (!finishing && abortRequest === null) abortRequest = req;
  });
  setHandler(
    approveStageUpdate,
    () => {
      const s = awaitingApproval!;
      approved.add(s);
      return { stage: s, approved: true as const };
    },
    {
      validator: (req: ApproveStageRequest) => {
        if (awaitingApproval === null || finishing || abortRequest !== null) {
          throw new Error(`nothing awaits approval: rollout ${rolloutId} is ${state} at stage ${stage + 1}`);
        }
        if (req.stage !== undefined && req.stage !== awaitingApproval) {
          throw new Error(
            `stage ${req.stage + 1} does not await approval; stage ${awaitingApproval + 1} does`,
          );
        }
      },
    },
  );

  const publish = (key: string, type: DomainEventType, summary: string, data: Record<string, unknown>) =>
    publishDomainEvent.executeWithOptions({ summary: `publish ${type}` }, [
      {
        id: `${rolloutId}:${key}`,
        type,
        version: 1,
        occurred_at: new Date().toISOString(),
        target: input.target,
        segment: input.segment,
        summary,
        data: { rollout_id: rolloutId, decision_id: input.decisionId, ...data },
      },
    ]);

  /** What the rollout changes, in words: a serving change, or the canary against its baseline. */
  const change = input.serving
    ? `${describeServingChange(input.serving)} (judged after against before)`
    : `canary **${input.canaryArm}** vs baseline **${input.baselineArm}**`;

  const describe = () => {
    const last = verdicts.at(-1);
    const lines = [
      `**${state}**${paused && state !== 'paused' ? ' (pause requested)' : ''} · stage ${stage + 1}/${input.stages.length}` +
        ` · ${change} on ${input.target}/${input.segment}`,
      `Weights: ${formatWeights(weights)} (config v${version}, from v${input.fromVersion})`,
    ];
    if (last) {
      lines.push(
        `Last verdict (stage ${last.stage + 1}, bake ${last.attempt + 1}): **${last.outcome}** — ${last.reasons.join('; ')}`,
      );
    }
    if (reason) lines.push(`Reason: ${reason}`);
    setCurrentDetails(lines.join('\n\n'));
  };

  async function setState(next: RolloutState, extra: { reason?: string } = {}): Promise<void> {
    state = next;
    if (extra.reason) reason = extra.reason;
    upsertSearchAttributes([{ key: RolloutStateKey, value: next }]);
    describe();
    await acts.recordRolloutState.executeWithOptions({ summary: `record rollout state ${next}` }, [
      { rolloutId, state: next, current_stage: stage, weights, verdicts, to_version: version, ...extra },
    ]);
  }

  /** The state to show while running: a pause or an approval wait is visible as such. */
  const runningState = (): RolloutState =>
    paused ? 'paused' : awaitingApproval !== null ? 'awaiting_approval' : 'progressing';

  /**
   * Waits until `done()` (or the timeout; false then), recording each pause and resume as it happens so
   * the database, the search attribute and the UI show it at once rather than at the next stage.
   */
  async function waitUntil(done: () => boolean, timeoutMs?: number): Promise<boolean> {
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    for (;;) {
      if (done()) return true;
      if (runningState() !== state) {
        if (paused && state !== 'paused') {
          pauses++;
          await publish(
            `paused-${pauses}`,
            'rollout.paused',
            `Rollout of ${input.canaryArm} on ${input.target}/${input.segment} paused`,
            {
              stage: stage + 1,
            },
          );
        }
        await setState(runningState());
        continue;
      }
      const seen = runningState();
      const pred = () => done() || runningState() !== seen;
      if (deadline === undefined) {
        await condition(pred);
      } else {
        const remaining = deadline - Date.now();
        if (remaining <= 0 || !(await condition(pred, remaining))) return done();
      }
    }
  }

  async function finishWithRollback(
    trigger: RollbackTrigger,
    why: string,
    final: 'rolled_back' | 'aborted',
  ): Promise<RolloutResult> {
    finishing = true;
    awaitingApproval = null;
    reason = why;
    if (version !== input.fromVersion) {
      rollbackId = workflowIds.rollback(input.target, input.segment, input.fromVersion);
      describe();
      const restored = await executeRollback({
        target: input.target,
        segment: input.segment,
        restoreVersion: input.fromVersion,
        trigger,
        reason: why,
        rolloutId,
        decisionId: input.decisionId,
        taskQueues: input.taskQueues,
      });
      version = restored.newVersion;
      weights = restored.weights;
    } else {
      await acts.setDecisionStatus.executeWithOptions({ summary: `mark decision ${final}` }, [
        { decisionId: input.decisionId, status: final === 'aborted' ? 'rejected' : 'rolled_back' },
      ]);
    }
    await setState(final, { reason: why });
    return { rolloutId, state: final, finalVersion: version, verdicts, reason: why };
  }

  /** The baseline's window before any canary traffic: up to an hour before this run began. */
  function preRolloutWindow(): { from: string; to: string } {
    const startedAt = workflowInfo().runStartTime.getTime();
    const seconds = Math.max(input.stages[0]?.bake_seconds ?? 0, 3600);
    return {
      from: new Date(startedAt - seconds * 1000).toISOString(),
      to: new Date(startedAt).toISOString(),
    };
  }

  /**
   * Judges a serving change's bake [from, to): the arm after the change against the same arm over the
   * equal span before it (the canary judge, same minimum samples), and against the target's SLOs.
   */
  async function judgeServingChange(from: string, to: string) {
    const before = windowBefore({ from, to });
    const arm = input.canaryArm;
    const where = { target: input.target, segment: input.segment };
    const [judged, slo] = await Promise.all([
      judgeStage.executeWithOptions({ summary: `judge ${arm} after the change against before it` }, [
        {
          ...where,
          baselineArm: arm,
          canaryArm: arm,
          from,
          to,
          baselineWindow: before,
          thresholds: { min_samples_per_arm: input.minSamplesPerArm },
        },
      ]),
      checkSlos.executeWithOptions({ summary: `check ${arm} after the change against the SLOs` }, [
        {
          ...where,
          arm,
          from,
          to,
          baselineArm: arm,
          baselineWindow: before,
          minSamples: input.minSamplesPerArm,
        },
      ]),
    ]);
    return servingVerdict(judged, slo);
  }

  /** Hands the promoted change to a `healthWatch` run that outlives this rollout. */
  async function startHealthWatch(watch: NonNullable<RolloutInput['healthWatch']>): Promise<void> {
    const startedAt = workflowInfo().runStartTime.getTime();
    const baselineFrom = new Date(startedAt - Math.max(watch.intervalSeconds, 3600) * 1000).toISOString();
    try {
      await startChild(healthWatch, {
        workflowId: workflowIds.healthWatch(input.target),
        taskQueue: input.taskQueues.orchestration,
        args: [
          {
            target: input.target,
            segment: input.segment,
            rolloutId,
            decisionId: input.decisionId,
            promotedArm: input.canaryArm,
            baselineArm: input.baselineArm,
            baselineWindow: { from: baselineFrom, to: new Date(startedAt).toISOString() },
            restoreVersion: input.fromVersion,
            watchedVersion: version,
            intervalSeconds: watch.intervalSeconds,
            until: new Date(Date.now() + watch.durationSeconds * 1000).toISOString(),
            minSamplesPerArm: input.minSamplesPerArm,
            checks: 0,
            taskQueues: input.taskQueues,
          },
        ],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        typedSearchAttributes: [
          { key: TargetKey, value: input.target },
          { key: SegmentKey, value: input.segment },
        ],
        staticSummary: `Health watch of **${input.canaryArm}** on ${input.target}/${input.segment} after promotion`,
      });
    } catch (err) {
      // A watch already guards this target (an earlier promotion); it stops by itself when the config moves on.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }

  /** Turns an activity's permanent failure into this run's failure with the same type and reason. */
  async function failRun(err: unknown): Promise<never> {
    const cause = err instanceof ActivityFailure || err instanceof ChildWorkflowFailure ? err.cause : err;
    const type = cause instanceof ApplicationFailure ? (cause.type ?? 'InvalidConfig') : 'InvalidConfig';
    const message = cause instanceof Error ? cause.message : String(cause);
    reason = message;
    state = 'failed';
    upsertSearchAttributes([{ key: RolloutStateKey, value: 'failed' }]);
    describe();
    // Best effort: the row is gone when the target was deleted, which must not hide the real reason.
    await acts.recordRolloutState
      .executeWithOptions({ summary: 'record rollout state failed' }, [
        { rolloutId, state: 'failed', reason: message },
      ])
      .catch(() => undefined);
    throw ApplicationFailure.nonRetryable(`rollout ${rolloutId} failed: ${message}`, type);
  }

  if (!input.serving && !input.fromWeights) {
    throw ApplicationFailure.nonRetryable(
      `rollout ${rolloutId} has neither fromWeights (a weight canary) nor serving (a serving change)`,
      'InvalidInput',
    );
  }
  try {
    await acts.recordRolloutStart.executeWithOptions(
      { summary: `record rollout of ${input.canaryArm} on ${input.target}/${input.segment}` },
      [
        {
          id: rolloutId,
          decision_id: input.decisionId,
          target: input.target,
          segment: input.segment,
          strategy: input.strategy,
          canary_arm: input.canaryArm,
          baseline_arm: input.baselineArm,
          stages: input.stages,
          from_version: input.fromVersion,
        },
      ],
    );
    await setState('progressing');
    await publish(
      'started',
      'rollout.started',
      input.serving
        ? `Serving change rolling out on ${input.target}/${input.segment}: ${describeServingChange(input.serving)}`
        : `Canary ${input.canaryArm} rolling out on ${input.target}/${input.segment}`,
      {
        stages: input.stages.map((s) => s.canary_bps),
        from_version: input.fromVersion,
        ...(input.serving ? { serving_change: input.serving } : {}),
      },
    );

    for (stage = 0; stage < input.stages.length; stage++) {
      const spec = input.stages[stage]!;
      if (spec.requires_approval && !approved.has(stage)) {
        awaitingApproval = stage;
        await waitUntil(() => approved.has(stage) || abortRequest !== null);
        awaitingApproval = null;
      }
      await waitUntil(() => !paused || abortRequest !== null);
      if (abortRequest) break;

      // A serving change keeps the weights of the version it follows; the activity adds its override.
      const stageWeights = input.fromWeights
        ? { weights: canaryWeights(input.fromWeights, input.canaryArm, spec.canary_bps) }
        : {};
      const what = input.serving
        ? `set ${describeServingChange(input.serving)}`
        : `canary ${input.canaryArm} at ${pct(spec.canary_bps)}`;
      const applied = await acts.applyRoutingConfig.executeWithOptions(
        {
          summary: input.serving
            ? `apply stage ${stage + 1}: ${what}`
            : `apply stage ${stage + 1}: ${input.canaryArm} at ${pct(spec.canary_bps)}`,
        },
        [
          {
            rolloutId,
            step: `stage-${stage + 1}`,
            target: input.target,
            segment: input.segment,
            expectedVersion: version,
            ...stageWeights,
            reason: `${what} (stage ${stage + 1}/${input.stages.length}, decision ${input.decisionId})`,
          },
        ],
      );
      version = applied.version;
      weights = applied.weights;
      await setState(runningState());

      // At 100% the baseline serves nothing in the stage's own window, so a real judge would only ever
      // see "insufficient samples" and roll back an inconclusive canary: judge it against the baseline's
      // last traffic instead (the previous stage's window, or the hour before the rollout began).
      const baselineWindow =
        !input.serving &&
        spec.canary_bps === TOTAL_BASIS_POINTS &&
        patched('full-stage-judged-on-last-baseline-window')
          ? (verdicts.at(-1)?.window ?? preRolloutWindow())
          : undefined;
      const from = new Date().toISOString();
      let outcome: StageVerdict['outcome'] = 'marginal';
      for (let attempt = 0; attempt <= input.maxBakeExtensions; attempt++) {
        await waitUntil(() => abortRequest !== null, spec.bake_seconds * 1000);
        await waitUntil(() => !paused || abortRequest !== null);
        if (abortRequest) break;
        const to = new Date().toISOString();
        const v = input.serving
          ? await judgeServingChange(from, to)
          : await judgeStage.executeWithOptions(
              {
                summary: `judge stage ${stage + 1} (bake ${attempt + 1}): ${input.canaryArm} vs ${input.baselineArm}`,
              },
              [
                {
                  target: input.target,
                  segment: input.segment,
                  baselineArm: input.baselineArm,
                  canaryArm: input.canaryArm,
                  from,
                  to,
                  ...(baselineWindow ? { baselineWindow } : {}),
                  thresholds: { min_samples_per_arm: input.minSamplesPerArm },
                },
              ],
            );
        verdicts.push({ stage, attempt, canary_bps: spec.canary_bps, window: { from, to }, ...v });
        outcome = v.outcome;
        describe();
        await acts.recordRolloutState.executeWithOptions({ summary: `record verdict ${v.outcome}` }, [
          { rolloutId, state: runningState(), current_stage: stage, verdicts },
        ]);
        if (outcome !== 'marginal') break;
      }
      if (abortRequest) break;
      const last = verdicts.at(-1);
      if (outcome === 'fail') {
        return await finishWithRollback(
          'stage_failed',
          `stage ${stage + 1} failed: ${last?.reasons.join('; ') ?? 'no verdict'}`,
          'rolled_back',
        );
      }
      if (outcome === 'marginal') {
        return await finishWithRollback(
          'inconclusive',
          `stage ${stage + 1} stayed inconclusive after ${input.maxBakeExtensions} bake extension(s): ${last?.reasons.join('; ') ?? 'no verdict'}`,
          'rolled_back',
        );
      }
      await publish(
        `stage-${stage + 1}-promoted`,
        'rollout.stage_promoted',
        `Stage ${stage + 1}/${input.stages.length} of ${input.serving ? describeServingChange(input.serving) : input.canaryArm} on ${input.target}/${input.segment} passed`,
        {
          stage: stage + 1,
          canary_bps: spec.canary_bps,
          config_version: version,
          verdict: last ?? null,
        },
      );
    }

    if (abortRequest !== null) {
      const req: AbortRequest = abortRequest;
      return await finishWithRollback(
        'abort',
        `aborted${req.by ? ` by ${req.by}` : ''}${req.reason ? `: ${req.reason}` : ''}`,
        'aborted',
      );
    }

    finishing = true;
    stage = input.stages.length - 1;
    if (
      !input.serving &&
      weights?.[input.canaryArm] !== TOTAL_BASIS_POINTS &&
      input.stages.at(-1)?.canary_bps !== TOTAL_BASIS_POINTS
    ) {
      // Custom stages may stop short of 100%; promotion gives the canary all of the traffic.
      const applied = await acts.applyRoutingConfig.executeWithOptions(
        { summary: `promote ${input.canaryArm} to 100%` },
        [
          {
            rolloutId,
            step: 'promote',
            target: input.target,
            segment: input.segment,
            expectedVersion: version,
            weights: { [input.canaryArm]: TOTAL_BASIS_POINTS },
            reason: `promote ${input.canaryArm} to 100% (decision ${input.decisionId})`,
          },
        ],
      );
      version = applied.version;
      weights = applied.weights;
    }
    await acts.setDecisionStatus.executeWithOptions({ summary: 'mark decision applied' }, [
      { decisionId: input.decisionId, status: 'applied', rolloutId },
    ]);
    const why = `all ${input.stages.length} stages passed`;
    await setState('promoted', { reason: why });
    await publish(
      'promoted',
      'rollout.promoted',
      input.serving
        ? `Serving change promoted on ${input.target}/${input.segment}: ${describeServingChange(input.serving)}`
        : `Canary ${input.canaryArm} promoted to 100% on ${input.target}/${input.segment}`,
      {
        config_version: version,
        from_version: input.fromVersion,
        ...(input.serving ? { serving_change: input.serving } : {}),
      },
    );
    if (input.healthWatch && patched('health-watch-after-promotion'))
      await startHealthWatch(input.healthWatch);
    return { rolloutId, state: 'promoted', finalVersion: version, verdicts, reason: why };
  } catch (err) {
    if (err instanceof ActivityFailure || err instanceof ChildWorkflowFailure) return failRun(err);
    throw err;
  }
}
