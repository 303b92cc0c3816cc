import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  ParentClosePolicy,
  condition,
  patched,
  startChild,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { DomainEventType } from '../domain/domain-events';
import { TOTAL_BASIS_POINTS, type RolloutStage, type RolloutState, type Weights } from '../domain/model';
import { workflowIds } from '../domain/names';
import { canaryWeights } from '../domain/routing';
import { describeServingChange, servingVerdict, windowBefore } from '../domain/intelligence/serving-rollout';
import { judgeActivities, orchestrationActivities } from './activities';
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
} from './contracts';
import { healthWatch } from './health-watch';
import { executeRollback } from './rollback';
import { RolloutStateKey, SegmentKey, TargetKey } from './search-attributes';

const pct = (bps: number) => `${bps / 100}%`;

function formatWeights(w: Weights | null): string {
  if (!w) return 'unchanged';
  return Object.entries(w)
    .filter(([, v]) => v > 0)
    .map(([arm, v]) => `${arm} ${pct(v)}`)
    .join(', ');
}

/** How a stage ended: passed (on to the next), aborted (roll back as asked), or the run's result. */
type StageEnd = 'passed' | 'aborted' | RolloutResult;

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
 * the stage, weights and every verdict. Wrong-moment semantics are documented in ./contracts.ts.
 *
 * Fails with the activity's type (`TargetNotFound`, `InvalidConfig`, `StaleConfigVersion`,
 * `RolloutConflict`) when a step fails for good; nothing is rolled back over a config someone else wrote.
 */
export async function canaryRollout(input: RolloutInput): Promise<RolloutResult> {
  const rollout = new CanaryRollout(input);
  rollout.setupHandlers();
  return rollout.run();
}

/**
 * The state of one rollout and its transitions. Handlers only record what was asked (a pause, an abort,
 * an approval); the main path reads those requests at its gates, so every decision happens at a point
 * of the history where replay makes it again.
 */
class CanaryRollout {
  private readonly input: RolloutInput;
  private readonly rolloutId = workflowInfo().workflowId;
  private readonly acts: ReturnType<typeof orchestrationActivities>;
  private readonly judge: ReturnType<typeof judgeActivities>;
  /** What the rollout changes, in words: a serving change, or the canary against its baseline. */
  private readonly change: string;

  private state: RolloutState = 'pending';
  /** 0-based index of the stage in progress (or last reached). */
  private stage = 0;
  private weights: Weights | null = null;
  private version: number;
  private paused = false;
  /** Pauses so far: the idempotency key of each `rollout.paused` event. */
  private pauses = 0;
  private abortRequest: AbortRequest | null = null;
  private awaitingApproval: number | null = null;
  private readonly approved = new Set<number>();
  private readonly verdicts: StageVerdict[] = [];
  private reason: string | null = null;
  private rollbackId: string | null = null;
  /** Set once the outcome is being written: a pause or an abort then changes nothing. */
  private finishing = false;

  constructor(input: RolloutInput) {
    this.input = input;
    this.version = input.fromVersion;
    this.acts = orchestrationActivities(input.taskQueues);
    this.judge = judgeActivities(input.taskQueues);
    this.change = input.serving
      ? `${describeServingChange(input.serving)} (judged after against before)`
      : `canary **${input.canaryArm}** vs baseline **${input.baselineArm}**`;
  }

  setupHandlers(): void {
    setHandler(rolloutStatusQuery, () => this.status());
    setHandler(pauseRolloutSignal, () => {
      // Pausing twice, or once the outcome is being written, changes nothing (documented no-op).
      if (!this.finishing) this.paused = true;
    });
    setHandler(resumeRolloutSignal, () => {
      this.paused = false;
    });
    setHandler(abortRolloutSignal, (req) => {
      if (!this.finishing && this.abortRequest === null) this.abortRequest = req;
    });
    setHandler(
      approveStageUpdate,
      () => {
        const s = this.awaitingApproval!;
        this.approved.add(s);
        return { stage: s, approved: true as const };
      },
      { validator: (req: ApproveStageRequest) => this.validateApproval(req) },
    );
  }

  private validateApproval(req: ApproveStageRequest): void {
    const awaiting = this.awaitingApproval;
    if (awaiting === null || this.finishing || this.abortRequest !== null) {
      throw new Error(
        `nothing awaits approval: rollout ${this.rolloutId} is ${this.state} at stage ${this.stage}`,
      );
    }
    if (req.stage !== undefined && req.stage !== awaiting) {
      throw new Error(`stage ${req.stage} does not await approval; stage ${awaiting} does`);
    }
  }

  status(): RolloutStatus {
    const { input } = this;
    return {
      rolloutId: this.rolloutId,
      decisionId: input.decisionId,
      target: input.target,
      segment: input.segment,
      state: this.state,
      stage: this.stage,
      stages: input.stages,
      weights: this.weights,
      configVersion: this.version,
      paused: this.paused,
      awaitingApproval: this.awaitingApproval,
      verdicts: this.verdicts,
      reason: this.reason,
      rollbackId: this.rollbackId,
    };
  }

  async run(): Promise<RolloutResult> {
    const { input } = this;
    if (!input.serving && !input.fromWeights) {
      throw ApplicationFailure.nonRetryable(
        `rollout ${this.rolloutId} has neither fromWeights (a weight canary) nor serving (a serving change)`,
        'InvalidInput',
      );
    }
    try {
      await this.start();
      for (this.stage = 0; this.stage < input.stages.length; this.stage++) {
        const end = await this.runStage(input.stages[this.stage]!);
        if (end === 'aborted') break;
        if (end !== 'passed') return end;
      }
      if (this.abortRequest !== null) return await this.abort(this.abortRequest);
      return await this.promote();
    } catch (err) {
      if (err instanceof ActivityFailure || err instanceof ChildWorkflowFailure) return this.fail(err);
      throw err;
    }
  }

  /** Records the rollout and announces it. */
  private async start(): Promise<void> {
    const { input } = this;
    await this.acts.recordRolloutStart.executeWithOptions(
      { summary: `record rollout of ${input.canaryArm} on ${input.target}/${input.segment}` },
      [
        {
          id: this.rolloutId,
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
    await this.setState('progressing');
    await this.publish(
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
  }

  /** One stage: its gates, its routing config, its bakes, and what their verdict means. */
  private async runStage(spec: RolloutStage): Promise<StageEnd> {
    if (!(await this.passGates(spec))) return 'aborted';
    await this.applyStage(spec);
    const outcome = await this.bake(spec);
    if (this.abortRequest) return 'aborted';
    return this.settleStage(spec, outcome);
  }

  /** Waits for a person's approval when the stage needs one, then out of any pause; false on abort. */
  private async passGates(spec: RolloutStage): Promise<boolean> {
    const stage = this.stage;
    if (spec.requires_approval && !this.approved.has(stage)) {
      this.awaitingApproval = stage;
      await this.waitUntil(() => this.approved.has(stage) || this.abortRequest !== null);
      this.awaitingApproval = null;
    }
    await this.waitUntil(() => !this.paused || this.abortRequest !== null);
    return this.abortRequest === null;
  }

  /** Writes the stage's routing-config version. */
  private async applyStage(spec: RolloutStage): Promise<void> {
    const { input } = this;
    const n = this.stage + 1;
    // A serving change keeps the weights of the version it follows; the activity adds its override.
    const stageWeights = input.fromWeights
      ? { weights: canaryWeights(input.fromWeights, input.canaryArm, spec.canary_bps) }
      : {};
    const what = input.serving
      ? `set ${describeServingChange(input.serving)}`
      : `canary ${input.canaryArm} at ${pct(spec.canary_bps)}`;
    const applied = await this.acts.applyRoutingConfig.executeWithOptions(
      {
        summary: input.serving
          ? `apply stage ${this.stage}: ${what}`
          : `apply stage ${this.stage} (${pct(spec.canary_bps)}): ${input.canaryArm}`,
      },
      [
        {
          rolloutId: this.rolloutId,
          step: `stage-${n}`,
          target: input.target,
          segment: input.segment,
          expectedVersion: this.version,
          ...stageWeights,
          reason: `${what} (stage ${this.stage} of 0–${input.stages.length - 1}, decision ${input.decisionId})`,
        },
      ],
    );
    this.version = applied.version;
    this.weights = applied.weights;
    await this.setState(this.runningState());
  }

  /**
   * Bakes the stage and judges it, extending the bake on a marginal verdict up to `maxBakeExtensions`
   * times. Returns the last outcome (marginal when an abort cut the bake short).
   */
  private async bake(spec: RolloutStage): Promise<StageVerdict['outcome']> {
    const { input } = this;
    // At 100% the baseline serves nothing in the stage's own window, so a real judge would only ever
    // see "insufficient samples" and roll back an inconclusive canary: judge it against the baseline's
    // last traffic instead (the previous stage's window, or the hour before the rollout began).
    const baselineWindow =
      !input.serving &&
      spec.canary_bps === TOTAL_BASIS_POINTS &&
      patched('full-stage-judged-on-last-baseline-window')
        ? (this.verdicts.at(-1)?.window ?? this.preRolloutWindow())
        : undefined;
    const from = new Date().toISOString();
    let outcome: StageVerdict['outcome'] = 'marginal';
    for (let attempt = 0; attempt <= input.maxBakeExtensions; attempt++) {
      await this.waitUntil(() => this.abortRequest !== null, spec.bake_seconds * 1000);
      await this.waitUntil(() => !this.paused || this.abortRequest !== null);
      if (this.abortRequest) break;
      const to = new Date().toISOString();
      const v = input.serving
        ? await this.judgeServingChange(from, to)
        : await this.judgeCanary(attempt, { from, to }, baselineWindow);
      this.verdicts.push({
        stage: this.stage,
        attempt,
        canary_bps: spec.canary_bps,
        window: { from, to },
        ...v,
      });
      outcome = v.outcome;
      this.describe();
      await this.acts.recordRolloutState.executeWithOptions({ summary: `record verdict ${v.outcome}` }, [
        {
          rolloutId: this.rolloutId,
          state: this.runningState(),
          current_stage: this.stage,
          verdicts: this.verdicts,
        },
      ]);
      if (outcome !== 'marginal') break;
    }
    return outcome;
  }

  /** Judges a weight canary's bake: canary against baseline on the same window (or the baseline's last). */
  private judgeCanary(
    attempt: number,
    window: { from: string; to: string },
    baselineWindow: { from: string; to: string } | undefined,
  ) {
    const { input } = this;
    return this.judge.judgeStage.executeWithOptions(
      {
        summary: `judge stage ${this.stage} (bake ${attempt + 1}): ${input.canaryArm} vs ${input.baselineArm}`,
      },
      [
        {
          target: input.target,
          segment: input.segment,
          baselineArm: input.baselineArm,
          canaryArm: input.canaryArm,
          ...window,
          ...(baselineWindow ? { baselineWindow } : {}),
          thresholds: { min_samples_per_arm: input.minSamplesPerArm },
        },
      ],
    );
  }

  /**
   * Judges a serving change's bake [from, to): the arm after the change against the same arm over the
   * equal span before it (the canary judge, same minimum samples), and against the target's SLOs.
   */
  private async judgeServingChange(from: string, to: string) {
    const { input } = this;
    const before = windowBefore({ from, to });
    const arm = input.canaryArm;
    const where = { target: input.target, segment: input.segment };
    const [judged, slo] = await Promise.all([
      this.judge.judgeStage.executeWithOptions(
        { summary: `judge ${arm} after the change against before it` },
        [
          {
            ...where,
            baselineArm: arm,
            canaryArm: arm,
            from,
            to,
            baselineWindow: before,
            thresholds: { min_samples_per_arm: input.minSamplesPerArm },
          },
        ],
      ),
      this.judge.checkSlos.executeWithOptions({ summary: `check ${arm} after the change against the SLOs` }, [
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

  /** What the stage's last verdict means: roll back on fail or a lasting marginal, else announce the pass. */
  private async settleStage(spec: RolloutStage, outcome: StageVerdict['outcome']): Promise<StageEnd> {
    const { input } = this;
    const n = this.stage + 1;
    const last = this.verdicts.at(-1);
    const reasons = last?.reasons.join('; ') ?? 'no verdict';
    if (outcome === 'fail') {
      return this.rollBack('stage_failed', `stage ${this.stage} failed: ${reasons}`, 'rolled_back');
    }
    if (outcome === 'marginal') {
      return this.rollBack(
        'inconclusive',
        `stage ${this.stage} stayed inconclusive after ${input.maxBakeExtensions} bake extension(s): ${reasons}`,
        'rolled_back',
      );
    }
    await this.publish(
      `stage-${n}-promoted`,
      'rollout.stage_promoted',
      `Stage ${this.stage} (of 0–${input.stages.length - 1}) of ${input.serving ? describeServingChange(input.serving) : input.canaryArm} on ${input.target}/${input.segment} passed`,
      {
        stage: this.stage,
        canary_bps: spec.canary_bps,
        config_version: this.version,
        verdict: last ?? null,
      },
    );
    return 'passed';
  }

  /** Every stage passed: the canary gets all of the traffic, the decision is applied, a watch begins. */
  private async promote(): Promise<RolloutResult> {
    const { input } = this;
    this.finishing = true;
    this.stage = input.stages.length - 1;
    if (
      !input.serving &&
      this.weights?.[input.canaryArm] !== TOTAL_BASIS_POINTS &&
      input.stages.at(-1)?.canary_bps !== TOTAL_BASIS_POINTS
    ) {
      // Custom stages may stop short of 100%; promotion gives the canary all of the traffic.
      const applied = await this.acts.applyRoutingConfig.executeWithOptions(
        { summary: `promote ${input.canaryArm} to 100%` },
        [
          {
            rolloutId: this.rolloutId,
            step: 'promote',
            target: input.target,
            segment: input.segment,
            expectedVersion: this.version,
            weights: { [input.canaryArm]: TOTAL_BASIS_POINTS },
            reason: `promote ${input.canaryArm} to 100% (decision ${input.decisionId})`,
          },
        ],
      );
      this.version = applied.version;
      this.weights = applied.weights;
    }
    await this.acts.setDecisionStatus.executeWithOptions({ summary: 'mark decision applied' }, [
      { decisionId: input.decisionId, status: 'applied', rolloutId: this.rolloutId },
    ]);
    const why = `all ${input.stages.length} stages passed`;
    await this.setState('promoted', { reason: why });
    await this.publish(
      'promoted',
      'rollout.promoted',
      input.serving
        ? `Serving change promoted on ${input.target}/${input.segment}: ${describeServingChange(input.serving)}`
        : `Canary ${input.canaryArm} promoted to 100% on ${input.target}/${input.segment}`,
      {
        config_version: this.version,
        from_version: input.fromVersion,
        ...(input.serving ? { serving_change: input.serving } : {}),
      },
    );
    if (input.healthWatch && patched('health-watch-after-promotion'))
      await this.startHealthWatch(input.healthWatch);
    return {
      rolloutId: this.rolloutId,
      state: 'promoted',
      finalVersion: this.version,
      verdicts: this.verdicts,
      reason: why,
    };
  }

  private abort(req: AbortRequest): Promise<RolloutResult> {
    return this.rollBack(
      'abort',
      `aborted${req.by ? ` by ${req.by}` : ''}${req.reason ? `: ${req.reason}` : ''}`,
      'aborted',
    );
  }

  /**
   * Ends the rollout `final`: restores `fromVersion` through the `rollback` child when this run wrote a
   * version, else only marks the decision.
   */
  private async rollBack(
    trigger: RollbackTrigger,
    why: string,
    final: 'rolled_back' | 'aborted',
  ): Promise<RolloutResult> {
    const { input } = this;
    this.finishing = true;
    this.awaitingApproval = null;
    this.reason = why;
    if (this.version !== input.fromVersion) {
      this.rollbackId = workflowIds.rollback(input.target, input.segment, input.fromVersion);
      this.describe();
      const restored = await executeRollback({
        target: input.target,
        segment: input.segment,
        restoreVersion: input.fromVersion,
        trigger,
        reason: why,
        rolloutId: this.rolloutId,
        decisionId: input.decisionId,
        taskQueues: input.taskQueues,
      });
      this.version = restored.newVersion;
      this.weights = restored.weights;
    } else {
      await this.acts.setDecisionStatus.executeWithOptions({ summary: `mark decision ${final}` }, [
        { decisionId: input.decisionId, status: final === 'aborted' ? 'rejected' : 'rolled_back' },
      ]);
    }
    await this.setState(final, { reason: why });
    return {
      rolloutId: this.rolloutId,
      state: final,
      finalVersion: this.version,
      verdicts: this.verdicts,
      reason: why,
    };
  }

  /** Turns an activity's permanent failure into this run's failure with the same type and reason. */
  private async fail(err: ActivityFailure | ChildWorkflowFailure): Promise<never> {
    const cause = err.cause;
    const type = cause instanceof ApplicationFailure ? (cause.type ?? 'InvalidConfig') : 'InvalidConfig';
    const message = cause instanceof Error ? cause.message : String(cause);
    this.reason = message;
    this.state = 'failed';
    upsertSearchAttributes([{ key: RolloutStateKey, value: 'failed' }]);
    this.describe();
    // Best effort: the row is gone when the target was deleted, which must not hide the real reason.
    await this.acts.recordRolloutState
      .executeWithOptions({ summary: 'record rollout state failed' }, [
        { rolloutId: this.rolloutId, state: 'failed', reason: message },
      ])
      .catch(() => undefined);
    throw ApplicationFailure.nonRetryable(`rollout ${this.rolloutId} failed: ${message}`, type);
  }

  /** Hands the promoted change to a `healthWatch` run that outlives this rollout. */
  private async startHealthWatch(watch: NonNullable<RolloutInput['healthWatch']>): Promise<void> {
    const { input } = this;
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
            rolloutId: this.rolloutId,
            decisionId: input.decisionId,
            promotedArm: input.canaryArm,
            baselineArm: input.baselineArm,
            baselineWindow: { from: baselineFrom, to: new Date(startedAt).toISOString() },
            restoreVersion: input.fromVersion,
            watchedVersion: this.version,
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

  /** The baseline's window before any canary traffic: up to an hour before this run began. */
  private preRolloutWindow(): { from: string; to: string } {
    const startedAt = workflowInfo().runStartTime.getTime();
    const seconds = Math.max(this.input.stages[0]?.bake_seconds ?? 0, 3600);
    return {
      from: new Date(startedAt - seconds * 1000).toISOString(),
      to: new Date(startedAt).toISOString(),
    };
  }

  /** The state to show while running: a pause or an approval wait is visible as such. */
  private runningState(): RolloutState {
    return this.paused ? 'paused' : this.awaitingApproval !== null ? 'awaiting_approval' : 'progressing';
  }

  /**
   * Waits until `done()` (or the timeout; false then), recording each pause and resume as it happens so
   * the database, the search attribute and the UI show it at once rather than at the next stage.
   */
  private async waitUntil(done: () => boolean, timeoutMs?: number): Promise<boolean> {
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    for (;;) {
      if (done()) return true;
      if (this.runningState() !== this.state) {
        if (this.paused && this.state !== 'paused') await this.announcePause();
        await this.setState(this.runningState());
        continue;
      }
      const seen = this.runningState();
      const pred = () => done() || this.runningState() !== seen;
      if (deadline === undefined) {
        await condition(pred);
      } else {
        const remaining = deadline - Date.now();
        if (remaining <= 0 || !(await condition(pred, remaining))) return done();
      }
    }
  }

  private announcePause(): Promise<unknown> {
    const { input } = this;
    this.pauses++;
    return this.publish(
      `paused-${this.pauses}`,
      'rollout.paused',
      `Rollout of ${input.canaryArm} on ${input.target}/${input.segment} paused`,
      { stage: this.stage },
    );
  }

  /** Moves to `next`: the search attribute, the UI's details and the read model follow. */
  private async setState(next: RolloutState, extra: { reason?: string } = {}): Promise<void> {
    this.state = next;
    if (extra.reason) this.reason = extra.reason;
    upsertSearchAttributes([{ key: RolloutStateKey, value: next }]);
    this.describe();
    await this.acts.recordRolloutState.executeWithOptions({ summary: `record rollout state ${next}` }, [
      {
        rolloutId: this.rolloutId,
        state: next,
        current_stage: this.stage,
        weights: this.weights,
        verdicts: this.verdicts,
        to_version: this.version,
        ...extra,
      },
    ]);
  }

  /**
   * The stage as the API numbers it (0-based, as `current_stage`), with its canary share and the last
   * index: "stage 0 (5%) of 0–3".
   */
  private stageText(): string {
    const { stages } = this.input;
    const spec = stages[this.stage];
    return `stage ${this.stage}${spec ? ` (${pct(spec.canary_bps)})` : ''} of 0–${stages.length - 1}`;
  }

  /** The run's details in the Temporal UI: state, stage, weights, last verdict, reason. */
  private describe(): void {
    const { input, state, paused } = this;
    const last = this.verdicts.at(-1);
    const lines = [
      `**${state}**${paused && state !== 'paused' ? ' (pause requested)' : ''} · ${this.stageText()}` +
        ` · ${this.change} on ${input.target}/${input.segment}`,
      `Weights: ${formatWeights(this.weights)} (config v${this.version}, from v${input.fromVersion})`,
    ];
    if (last) {
      lines.push(
        `Last verdict (stage ${last.stage}, bake ${last.attempt + 1}): **${last.outcome}** — ${last.reasons.join('; ')}`,
      );
    }
    if (this.reason) lines.push(`Reason: ${this.reason}`);
    setCurrentDetails(lines.join('\n\n'));
  }

  /** Publishes a domain event of this rollout; `key` makes it idempotent within the run. */
  private publish(key: string, type: DomainEventType, summary: string, data: Record<string, unknown>) {
    const { input } = this;
    return this.acts.publishDomainEvent.executeWithOptions({ summary: `publish ${type}` }, [
      {
        id: `${this.rolloutId}:${key}`,
        type,
        version: 1,
        occurred_at: new Date().toISOString(),
        target: input.target,
        segment: input.segment,
        summary,
        data: { rollout_id: this.rolloutId, decision_id: input.decisionId, ...data },
      },
    ]);
  }
}
