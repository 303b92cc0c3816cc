/**
 * Outcomes of the optimization flow counted where they are recorded: in the activities that record them,
 * never in workflow code (deterministic, replayed). One activity interceptor, registered by every worker,
 * reads each outcome-bearing activity's input and result by its contract name (workflows/contracts.ts)
 * and counts into the process's stage metrics (platform/stage-metrics.ts):
 *
 * - recordDecisions (a cycle's analysis ended): decisions by kind and status, the cycle by trigger and
 *   outcome, its duration from the run's start, the target's last success and its schedule's interval;
 *   a cycle activity's permanent failure (non-retryable, or its last attempt) counts the cycle failed;
 * - setDecisionStatus: a decision's later status; recordRolloutStart / recordRolloutState: rollouts
 *   started and ended by outcome, and a rollback's time since the judged window that showed the degradation;
 * - restoreRoutingConfig: rollbacks; judgeStage / checkSlos: canary stage verdicts, health-watch checks.
 *
 * An activity retried after it had succeeded (its worker died before reporting) is counted again: rare,
 * and an over-count of one is what an alert on these rates tolerates.
 */
import { Context, type Info } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type {
  ActivityExecuteInput,
  ActivityInboundCallsInterceptor,
  ActivityInterceptors,
  Next,
} from '@temporalio/worker';
import type { Registry } from 'prom-client';
import type { Decision, RolloutState } from '../domain/model';
import type { StageVerdict } from '../domain/rollout';
import type { Verdict } from '../domain/intelligence/judge';
import type { SloCheck } from '../domain/intelligence/slo';
import { WORKFLOW_TYPES } from '../domain/names';
import { flowMetrics, type FlowMetrics } from '../platform/stage-metrics';
import type { AnalysisActivities, OrchestrationActivities } from '../workflows/contracts';
import { CYCLE_ANALYSIS_RETRY } from '../workflows/retry-policies';

type Observed = keyof AnalysisActivities | keyof OrchestrationActivities;
type Observer = (m: FlowMetrics, info: Info, args: unknown[], result: unknown) => void | Promise<void>;

const ENDED: readonly RolloutState[] = ['promoted', 'rolled_back', 'aborted', 'failed'];
const CYCLE_ACTIVITIES: readonly Observed[] = ['loadTarget', 'decideCycle', 'recordDecisions'];

const cycleTrigger = (workflowId: string): 'schedule' | 'api' =>
  /-scheduled-/.test(workflowId) ? 'schedule' : 'api';

/** The run's start, target and schedule (one describe), then the schedule's interval: never fails. */
async function describeCycle(info: Info) {
  const id = info.workflowExecution?.workflowId;
  if (!id) return undefined;
  try {
    const client = Context.current().client;
    const run = await client.workflow.getHandle(id, info.workflowExecution?.runId).describe();
    const scheduleId = run.searchAttributes.TemporalScheduledById?.[0];
    let intervalSeconds: number | undefined;
    if (typeof scheduleId === 'string') {
      const every = (await client.schedule.getHandle(scheduleId).describe()).spec.intervals?.[0]?.every;
      if (typeof every === 'number') intervalSeconds = every / 1000;
    }
    return { startedAt: run.startTime.getTime(), intervalSeconds };
  } catch {
    return undefined;
  }
}

const OBSERVERS: Partial<Record<Observed, Observer>> = {
  async recordDecisions(m, info, _args, result) {
    const decisions = result as Decision[];
    for (const d of decisions) m.decisions.recorded.inc({ kind: d.kind, status: d.status });
    const workflowId = info.workflowExecution?.workflowId ?? '';
    const trigger = cycleTrigger(workflowId);
    const changed = decisions.some((d) => d.kind !== 'no_action');
    m.cycles.total.inc({ trigger, outcome: changed ? 'changed' : 'no_change' });
    const target = decisions[0]?.target;
    if (target) m.cycles.lastSuccess.set({ target }, Date.now() / 1000);
    const run = await describeCycle(info);
    if (run) m.cycles.seconds.observe({ trigger }, Math.max(0, (Date.now() - run.startedAt) / 1000));
    if (target && run?.intervalSeconds !== undefined) m.cycles.interval.set({ target }, run.intervalSeconds);
  },
  setDecisionStatus(m, _info, _args, result) {
    const d = result as Decision;
    m.decisions.statusChanges.inc({ kind: d.kind, status: d.status });
  },
  recordRolloutStart(m) {
    m.rollouts.started.inc();
  },
  recordRolloutState(m, _info, args) {
    const input = args[0] as { state: RolloutState; verdicts?: StageVerdict[] };
    if (!ENDED.includes(input.state)) return;
    m.rollouts.finished.inc({ outcome: input.state });
    const last = input.verdicts?.at(-1);
    if (input.state === 'rolled_back' && last?.outcome === 'fail')
      m.rollouts.degradationToRollback.observe(
        Math.max(0, (Date.now() - Date.parse(last.window.from)) / 1000),
      );
  },
  restoreRoutingConfig(m) {
    m.rollouts.rollbacks.inc();
  },
  judgeStage(m, info, _args, result) {
    const { outcome } = result as Verdict;
    if (info.workflowType === WORKFLOW_TYPES.healthWatch)
      m.rollouts.healthChecks.inc({ check: 'judge', outcome });
    else m.rollouts.verdicts.inc({ outcome });
  },
  checkSlos(m, info, _args, result) {
    if (info.workflowType === WORKFLOW_TYPES.healthWatch)
      m.rollouts.healthChecks.inc({ check: 'slo', outcome: (result as SloCheck).outcome });
  },
};

/** Whether this failure ends the cycle: no retry follows it. */
function endsCycle(info: Info, err: unknown): boolean {
  if (info.workflowType !== WORKFLOW_TYPES.optimizationCycle) return false;
  if (!CYCLE_ACTIVITIES.includes(info.activityType as Observed)) return false;
  const nonRetryable = err instanceof ApplicationFailure && err.nonRetryable;
  return nonRetryable || info.attempt >= CYCLE_ANALYSIS_RETRY.maximumAttempts;
}

class OutcomeMetricsInbound implements ActivityInboundCallsInterceptor {
  constructor(
    private readonly metrics: FlowMetrics,
    private readonly ctx: Context,
  ) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>) {
    const info = this.ctx.info;
    const observe = OBSERVERS[info.activityType as Observed];
    let result: unknown;
    try {
      result = await next(input);
    } catch (err) {
      if (endsCycle(info, err))
        this.metrics.cycles.total.inc({
          trigger: cycleTrigger(info.workflowExecution?.workflowId ?? ''),
          outcome: 'failed',
        });
      throw err;
    }
    // Counting never fails or delays the activity's own outcome beyond a describe.
    if (observe) {
      try {
        await observe(this.metrics, info, input.args, result);
      } catch {
        /* a metric is never worth an activity's failure */
      }
    }
    return result;
  }
}

/** The worker's activity interceptor (WorkerOptions.interceptors.activity) counting into `registry`. */
export function outcomeMetricsInterceptor(registry: Registry): (ctx: Context) => ActivityInterceptors {
  const metrics = flowMetrics(registry);
  return (ctx) => ({ inbound: new OutcomeMetricsInbound(metrics, ctx) });
}
