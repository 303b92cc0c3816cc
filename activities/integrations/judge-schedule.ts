/**
 * The Temporal Schedule that runs the LLM judge: `judge-sampled-requests-<task queue>` starts
 * `judgeSampledRequests` every JUDGE_INTERVAL_S on the integrations queue, skipping a tick while the
 * previous run still works. Created (or brought up to date) by the integrations worker at start, so it
 * is visible and pausable in the Temporal Web UI like any schedule.
 */
import {
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleOptions,
} from '@temporalio/client';
import type { Env } from '../../platform/env';
import { JUDGE_WORKFLOW_TYPE, judgeScheduleId, type JudgeRunInput } from '../../workflows/notify-types';

export function judgeRunInput(env: Env): JudgeRunInput {
  return { batchSize: env.JUDGE_BATCH_SIZE, maxBatches: 20, leaseMs: 15 * 60_000 };
}

export async function ensureJudgeSchedule(client: Client, env: Env): Promise<string> {
  const taskQueue = env.TASK_QUEUE_INTEGRATIONS;
  const scheduleId = judgeScheduleId(taskQueue);
  const options = {
    scheduleId,
    spec: { intervals: [{ every: `${env.JUDGE_INTERVAL_S}s` }] },
    action: {
      type: 'startWorkflow' as const,
      workflowType: JUDGE_WORKFLOW_TYPE,
      taskQueue,
      args: [judgeRunInput(env)],
      // A run nobody picks up (the queue's workers are gone) ends instead of piling up.
      workflowRunTimeout: `${Math.max(20 * 60, env.JUDGE_INTERVAL_S)}s`,
      staticSummary: 'LLM judge: score sampled requests, emit eval.result',
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP },
  } satisfies ScheduleOptions;
  try {
    await client.schedule.create(options);
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(scheduleId).update((prev) => ({
      ...prev,
      spec: options.spec,
      action: { ...prev.action, ...options.action },
    }));
  }
  return scheduleId;
}
