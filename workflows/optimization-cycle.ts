import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  condition,
  isCancellation,
  patched,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
  setCurrentDetails,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  DEFAULT_APPROVAL_TIMEOUT_SECONDS,
  rolloutStages,
  servingRolloutStages,
  type Decision,
  type ServingChange,
  type Target,
} from '../domain/model';
import { describeServingChange } from '../domain/intelligence/serving-rollout';
import { workflowIds } from '../domain/names';
import { experimentWinners, segmentsToPropose } from '../domain/intelligence/prompt-proposal-gate';
import { cycleAnalysisActivities, orchestrationActivities } from './activities';
import { canaryRollout } from './canary-rollout';
import {
  PROMPT_PROPOSAL_WORKFLOW_TYPE,
  cycleStatusQuery,
  decideApprovalUpdate,
  promptProposalWorkflowId,
  type ApprovalDecisionRequest,
  type CycleInput,
  type CyclePhase,
  type CycleResult,
  type ProposalRequest,
} from './contracts';
import { TargetKey, SegmentKey, StrategyKey, DecisionIdKey } from './search-attributes';

/** Callers that query a cycle import the query from here or from ./contracts. */
export { cycleStatusQuery };

/** The approval window of runs recorded before it came from the target's policy (inside a one-hour run timeout). */
const LEGACY_APPROVAL_WINDOW_SECONDS = 50 * 60;

/** Time kept between the approval deadline and the run's own execution timeout, to record the expiry. */
const EXPIRY_MARGIN_MS = 5 * 60_000;

/**
 * When the wait for a person ends: the input's window or else the target policy's
 * `approval_timeout_seconds`, and never later than the run's execution timeout allows (less a margin),
 * so an unanswered decision always resolves as `expired` instead of the run timing out.
 */
function approvalDeadline(input: CycleInput, target: Target): number {
  const now = Date.now();
  const seconds =
    input.approvalWindowSeconds ?? target.policy.approval_timeout_seconds ?? DEFAULT_APPROVAL_TIMEOUT_SECONDS;
  const info = workflowInfo();
  const expires = Math.min(
    info.executionExpirationTime?.getTime() ??
      (info.executionTimeoutMs ? info.startTime.getTime() + info.executionTimeoutMs : Infinity),
    info.runTimeoutMs ? info.runStartTime.getTime() + info.runTimeoutMs : Infinity,
  );
  return Math.min(now + seconds * 1000, Math.max(now + 1000, expires - EXPIRY_MARGIN_MS));
}

/**
 * Starts `draftPromptVariants` for the given segments, naming the winner of each concluded prompt
 * experiment. Only the start is awaited (ParentClosePolicy ABANDON), so a slow, failing or unconfigured
 * Anthropic never delays or fails the cycle.
 */
async function startPromptProposal(
  input: CycleInput,
  segments: string[],
  decisions: Decision[],
  minLiveVariants?: number,
): Promise<void> {
  const cycleId = workflowInfo().workflowId;
  const winners = experimentWinners(decisions);
  const request: ProposalRequest = {
    target: input.target,
    cycleId,
    segments: segments.map((segment) => {
      const w = winners.get(segment);
      return w?.canary_arm ? { segment, winner: w.canary_arm, decisionId: w.id } : { segment };
    }),
    ...(minLiveVariants !== undefined ? { minLiveVariants } : {}),
  };
  try {
    await startChild(PROMPT_PROPOSAL_WORKFLOW_TYPE, {
      workflowId: promptProposalWorkflowId(cycleId),
      taskQueue: input.taskQueues.integrations,
      args: [request],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowExecutionTimeout: '15 minutes',
      staticSummary: `Draft prompt variants for **${input.target}** (${winners.size} concluded experiment(s))`,
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}

/**
 * One optimization cycle for one target: load it, analyze and decide, record the decisions, then
 * start a `canaryRollout` child (id `rollout-<target>-<decision id>`, ParentClosePolicy ABANDON so the
 * rollout outlives the cycle) for each approved change. A decision that needs a person waits for
 * `decideApprovalUpdate` (sent by `POST /v1/decisions/{id}/approve|reject`) up to the approval window
 * (the target policy's `approval_timeout_seconds`, default 24 h; starters derive the run's execution
 * timeout from it with `cycleExecutionTimeoutMs`), after which it is marked `expired` and the run
 * completes normally. Analysis activities run on the analysis task queue, decision
 * status and events on the orchestration queue. Fails with `TargetNotFound` when the target does not exist.
 */
export async function optimizationCycle(input: CycleInput): Promise<CycleResult> {
  const cycle = new OptimizationCycle(input);
  cycle.setupHandlers();
  return cycle.run();
}

/**
 * The state of one cycle and its steps. The approval handler only queues the answer; the main path
 * carries answers out one by one, so each write happens at a point of the history replay reaches again.
 */
class OptimizationCycle {
  private readonly input: CycleInput;
  private readonly cycleId = workflowInfo().workflowId;
  private readonly analysis: ReturnType<typeof cycleAnalysisActivities>;
  private readonly orchestration: ReturnType<typeof orchestrationActivities>;

  private phase: CyclePhase = 'loading';
  private decisions: Decision[] = [];
  /** Decisions waiting for a person, and the answers that arrived for them. */
  private readonly awaiting = new Set<string>();
  private readonly answers: ApprovalDecisionRequest[] = [];
  private readonly rolloutIds: string[] = [];
  /** Segments in which this cycle started a rollout: a second change there would only conflict. */
  private readonly rollingSegments = new Set<string>();

  /**
   * Whether a cancel leaves nothing awaiting: activities are waited for until they stop, then the
   * decisions still awaiting approval are marked `expired`. Runs recorded before left them as they were.
   */
  private readonly cleansUpOnCancel: boolean;

  constructor(input: CycleInput) {
    this.input = input;
    this.cleansUpOnCancel = patched('cancelled-cycle-expires-decisions');
    const opts = { waitForCancellation: this.cleansUpOnCancel };
    this.analysis = cycleAnalysisActivities(input.taskQueues, opts);
    this.orchestration = orchestrationActivities(input.taskQueues, opts);
  }

  setupHandlers(): void {
    setHandler(cycleStatusQuery, () => ({
      target: this.input.target,
      phase: this.phase,
      decisionIds: this.decisions.map((d) => d.id),
      awaitingApproval: [...this.awaiting],
      rolloutIds: this.rolloutIds,
    }));
    setHandler(
      decideApprovalUpdate,
      (req: ApprovalDecisionRequest) => {
        this.awaiting.delete(req.decisionId);
        this.answers.push(req);
        return {
          decisionId: req.decisionId,
          status: req.approve ? ('approved' as const) : ('rejected' as const),
        };
      },
      {
        validator: (req: ApprovalDecisionRequest) => {
          if (!this.awaiting.has(req.decisionId)) {
            throw new Error(`decision ${req.decisionId} does not await approval in cycle ${this.cycleId}`);
          }
        },
      },
    );
  }

  async run(): Promise<CycleResult> {
    const { input } = this;
    upsertSearchAttributes([
      { key: TargetKey, value: input.target },
      ...(input.segment ? [{ key: SegmentKey, value: input.segment }] : []),
    ]);
    setCurrentDetails(`Loading target **${input.target}**`);
    try {
      const { target, segments } = await this.load();
      await this.decide(segments);
      const changes = this.decisions.filter((d) => d.kind !== 'no_action');
      for (const d of changes)
        await this.publishDecision(
          d,
          'decision.created',
          `${d.kind} proposed for ${d.target}/${d.segment}: ${d.explanation}`,
        );
      this.phase = 'starting_rollouts';
      for (const d of changes.filter((c) => c.status === 'approved')) {
        const updated = await this.carryOut(target, d);
        if (updated) this.decisions[this.decisions.indexOf(d)] = updated;
      }
      await this.proposePrompts(target, segments);
      if (this.awaiting.size > 0 || this.answers.length > 0) await this.awaitApprovals(target);
      this.phase = 'done';
      setCurrentDetails(this.details());
      return { target: input.target, decisions: this.decisions, rolloutIds: this.rolloutIds };
    } catch (err) {
      this.phase = 'failed';
      if (this.cleansUpOnCancel && isCancellation(err)) await this.expireOnCancel();
      throw err;
    }
  }

  /**
   * A cancelled cycle carries nothing out any more: every decision of it still awaiting approval (asked
   * of a person, or answered but not yet carried out) is marked `expired`, in a scope the cancel does
   * not reach, so none is left awaiting an answer nobody can give.
   */
  private async expireOnCancel(): Promise<void> {
    const pending = [...this.awaiting, ...this.answers.map((a) => a.decisionId)];
    this.awaiting.clear();
    this.answers.length = 0;
    await CancellationScope.nonCancellable(async () => {
      for (const id of pending) {
        const idx = this.decisions.findIndex((d) => d.id === id);
        this.decisions[idx] = await this.orchestration.setDecisionStatus.executeWithOptions(
          { summary: 'mark decision expired: the cycle was cancelled' },
          [{ decisionId: id, status: 'expired' }],
        );
      }
    });
    setCurrentDetails(`Cancelled\n\n${this.details()}`);
  }

  /** Loads the target; `InvalidInput` when the input names a segment it does not have. */
  private async load(): Promise<{ target: Target; segments: string[] }> {
    const { input } = this;
    const target = await this.analysis.loadTarget.executeWithOptions(
      { summary: `load target ${input.target}` },
      [input.target],
    );
    const segments = input.segment ? [input.segment] : target.segments;
    for (const s of segments) {
      if (!target.segments.includes(s)) {
        throw ApplicationFailure.nonRetryable(
          `target "${input.target}" has no segment "${s}"`,
          'InvalidInput',
        );
      }
    }
    return { target, segments };
  }

  /** Analyzes the segments and records what the analysis decided. */
  private async decide(segments: string[]): Promise<void> {
    const { input } = this;
    this.phase = 'analyzing';
    setCurrentDetails(`Analyzing ${segments.length} segment(s) of **${input.target}**`);
    const drafts = await this.analysis.decideCycle.executeWithOptions(
      { summary: `analyze and decide ${input.target} (${segments.join(', ')})` },
      [{ target: input.target, segments, cycleId: this.cycleId }],
    );

    this.phase = 'recording';
    const strategies = [...new Set(drafts.map((d) => d.strategy))].sort();
    upsertSearchAttributes([{ key: StrategyKey, value: strategies.join(',') || 'none' }]);
    this.decisions = await this.analysis.recordDecisions.executeWithOptions(
      { summary: `record ${drafts.length} decision(s) for ${input.target}` },
      [{ cycleId: this.cycleId, drafts }],
    );
    // From the moment a decision is stored as awaiting approval, a person may answer it (the API lists
    // it at once); the answer is queued and carried out once the cycle's own work is done.
    for (const d of this.decisions) if (d.status === 'awaiting_approval') this.awaiting.add(d.id);
    setCurrentDetails(this.details());
  }

  /**
   * Claude drafts new prompt variants in an abandoned child on the integrations queue: off the cycle's
   * path, and (since the gate) only for segments with something to propose.
   */
  private async proposePrompts(target: Target, segments: string[]): Promise<void> {
    const { input, decisions } = this;
    if (!patched('prompt-variant-proposal') || input.draftPromptVariants === false) return;
    if (!patched('prompt-proposal-gate')) return startPromptProposal(input, segments, decisions);
    const wanted = segmentsToPropose(target, segments, decisions);
    if (wanted.length > 0)
      await startPromptProposal(
        input,
        wanted,
        decisions,
        target.policy.prompt_proposals?.min_live_variants ?? 0,
      );
  }

  /**
   * Carries out each answer as it arrives until every awaited decision is answered or the window ends;
   * the unanswered ones then expire.
   */
  private async awaitApprovals(target: Target): Promise<void> {
    const { input, awaiting, answers } = this;
    this.phase = 'awaiting_approval';
    upsertSearchAttributes([{ key: DecisionIdKey, value: [...awaiting].join(',') }]);
    setCurrentDetails(`${this.details()}\n\nAwaiting approval: ${[...awaiting].join(', ')}`);
    // Runs recorded before the window came from the policy waited 50 min and marked the rest superseded.
    const fromPolicy = patched('approval-window-from-policy');
    const deadline = fromPolicy
      ? approvalDeadline(input, target)
      : Date.now() + (input.approvalWindowSeconds ?? LEGACY_APPROVAL_WINDOW_SECONDS) * 1000;
    while (awaiting.size > 0 || answers.length > 0) {
      if (
        answers.length === 0 &&
        !(await condition(() => answers.length > 0, Math.max(1, deadline - Date.now())))
      )
        break;
      await this.carryOutAnswer(target, answers.shift()!);
      setCurrentDetails(this.details());
    }
    for (const id of awaiting) {
      const idx = this.decisions.findIndex((d) => d.id === id);
      this.decisions[idx] = await this.orchestration.setDecisionStatus.executeWithOptions(
        { summary: `mark unanswered decision ${fromPolicy ? 'expired' : 'superseded'}` },
        [{ decisionId: id, status: fromPolicy ? 'expired' : 'superseded' }],
      );
    }
    awaiting.clear();
  }

  /** Records a person's answer, announces it, and carries out an approved decision. */
  private async carryOutAnswer(target: Target, answer: ApprovalDecisionRequest): Promise<void> {
    const idx = this.decisions.findIndex((d) => d.id === answer.decisionId);
    const status = answer.approve ? 'approved' : 'rejected';
    const by = answer.by ? ` by ${answer.by}` : '';
    const updated = await this.orchestration.setDecisionStatus.executeWithOptions(
      { summary: `mark decision ${status}${by}` },
      [{ decisionId: answer.decisionId, status }],
    );
    this.decisions[idx] = updated;
    await this.publishDecision(
      updated,
      answer.approve ? 'decision.approved' : 'decision.rejected',
      `${updated.kind} for ${updated.target}/${updated.segment} ${status}${by}${answer.reason ? `: ${answer.reason}` : ''}`,
    );
    if (answer.approve) this.decisions[idx] = (await this.carryOut(target, updated)) ?? updated;
  }

  /** Carries out an approved decision: an exploration is applied, any other change rolled out. */
  private carryOut(target: Target, d: Decision): Promise<Decision | undefined> {
    if (d.kind === 'exploration' && d.to_weights && d.from_version !== null && patched('exploration-applied'))
      return this.applyExploration(d);
    return this.startRollout(target, d);
  }

  /**
   * Starts the rollout of an approved decision: a weight canary, or (a rate_limit or batching decision)
   * a before/after canary of the serving change. Returns the decision when it was marked `superseded`
   * instead, because this cycle already rolls out another change in its segment.
   */
  private async startRollout(target: Target, d: Decision): Promise<Decision | undefined> {
    if (!d.canary_arm || !d.baseline_arm || d.from_version === null) return;
    let serving: ServingChange | undefined;
    if (!d.from_weights) {
      // Runs recorded before serving changes were rolled out left them `approved`.
      if (!d.serving_change || !patched('serving-rollout')) return;
      serving = d.serving_change;
      if (this.rollingSegments.has(d.segment)) {
        return this.orchestration.setDecisionStatus.executeWithOptions(
          { summary: `mark decision superseded: a rollout in ${d.segment} already started` },
          [{ decisionId: d.id, status: 'superseded' }],
        );
      }
    }
    const workflowId = workflowIds.rollout(d.target, d.id);
    const policy = target.policy.rollout;
    this.rollingSegments.add(d.segment);
    try {
      await startChild(canaryRollout, {
        workflowId,
        taskQueue: this.input.taskQueues.orchestration,
        args: [
          {
            decisionId: d.id,
            target: d.target,
            segment: d.segment,
            strategy: d.strategy,
            canaryArm: d.canary_arm,
            baselineArm: d.baseline_arm,
            fromVersion: d.from_version,
            fromWeights: d.from_weights,
            ...(serving ? { serving } : {}),
            stages: serving ? servingRolloutStages(policy) : rolloutStages(policy),
            maxBakeExtensions: policy.max_bake_extensions,
            minSamplesPerArm: policy.min_samples_per_arm,
            taskQueues: this.input.taskQueues,
            // Watch a promoted change for a day, judged once per bake time.
            healthWatch: { intervalSeconds: policy.bake_seconds, durationSeconds: 24 * 3600 },
          },
        ],
        // The rollout runs for hours and must not die with the cycle that decided it.
        parentClosePolicy: ParentClosePolicy.ABANDON,
        typedSearchAttributes: [
          { key: TargetKey, value: d.target },
          { key: SegmentKey, value: d.segment },
          { key: StrategyKey, value: d.strategy },
          { key: DecisionIdKey, value: d.id },
        ],
        staticSummary: serving
          ? `Set ${describeServingChange(serving)} on ${d.target}/${d.segment} (${d.kind}, ${d.strategy})`
          : `Canary **${d.canary_arm}** against **${d.baseline_arm}** on ${d.target}/${d.segment} (${d.kind}, ${d.strategy})`,
      });
      this.rolloutIds.push(workflowId);
    } catch (err) {
      // A rollout for this decision already exists (a cycle retried by hand): it is the one that counts.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      this.rolloutIds.push(workflowId);
    }
  }

  /**
   * An exploration re-spread moves at most the exploration share while the primary arm stays, so it is
   * written at once as the decision's weights, as the replay applies it. Canarying it would walk the
   * explored arm through the rollout stages to all of the traffic: a bounded experiment turned into a
   * switch nobody decided. A config changed since the decision supersedes it.
   */
  private async applyExploration(d: Decision): Promise<Decision> {
    const { orchestration } = this;
    try {
      await orchestration.applyRoutingConfig.executeWithOptions(
        { summary: `apply exploration weights to ${d.segment}` },
        [
          {
            rolloutId: this.cycleId,
            step: `exploration-${d.id}`,
            target: d.target,
            segment: d.segment,
            expectedVersion: d.from_version!,
            weights: d.to_weights!,
            reason: `exploration re-spread (decision ${d.id})`,
          },
        ],
      );
      // A later change of this segment in the same cycle would start from a stale version.
      this.rollingSegments.add(d.segment);
      return await orchestration.setDecisionStatus.executeWithOptions(
        { summary: 'mark exploration applied' },
        [{ decisionId: d.id, status: 'applied' }],
      );
    } catch (err) {
      const cause = err instanceof ActivityFailure ? err.cause : undefined;
      if (cause instanceof ApplicationFailure && cause.type === 'StaleConfigVersion') {
        return orchestration.setDecisionStatus.executeWithOptions(
          { summary: 'mark exploration superseded: the config changed since' },
          [{ decisionId: d.id, status: 'superseded' }],
        );
      }
      throw err;
    }
  }

  /** The decisions in the run's details: segment, kind, strategy, status and why. */
  private details(): string {
    return (
      this.decisions
        .map((d) => `- **${d.segment}**: ${d.kind} (${d.strategy}) — ${d.status} — ${d.explanation}`)
        .join('\n') || 'No decisions'
    );
  }

  private publishDecision(
    d: Decision,
    type: 'decision.created' | 'decision.approved' | 'decision.rejected',
    summary: string,
  ) {
    return this.orchestration.publishDomainEvent.executeWithOptions({ summary: `publish ${type}` }, [
      {
        id: `${this.cycleId}:${d.id}:${type}`,
        type,
        version: 1,
        occurred_at: new Date().toISOString(),
        target: d.target,
        segment: d.segment,
        summary,
        data: {
          decision_id: d.id,
          cycle_id: this.cycleId,
          kind: d.kind,
          strategy: d.strategy,
          canary_arm: d.canary_arm,
          baseline_arm: d.baseline_arm,
        },
      },
    ]);
  }
}
