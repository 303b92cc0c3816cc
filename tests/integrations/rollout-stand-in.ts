/**
 * A stand-in for the canary rollout workflow in Slack command tests: it answers the rollout's real
 * messages (workflows/messages.ts) and records what it was told, so tests see what Slack caused.
 */
import { condition, setHandler } from '@temporalio/workflow';
import {
  abortRolloutSignal,
  pauseRolloutSignal,
  rolloutStatusQuery,
  type RolloutStatus,
} from '../../workflows/messages';

export async function rolloutStandIn(input: {
  rolloutId: string;
  target: string;
}): Promise<{ state: string; by: string | undefined }> {
  let paused = false;
  let state: RolloutStatus['state'] = 'progressing';
  let reason: string | null = null;
  let by: string | undefined;
  setHandler(pauseRolloutSignal, (r) => {
    paused = true;
    reason = r.reason ?? null;
    by = r.by;
  });
  setHandler(abortRolloutSignal, (r) => {
    state = 'aborted';
    reason = r.reason ?? null;
    by = r.by;
  });
  setHandler(rolloutStatusQuery, () => ({
    rolloutId: input.rolloutId,
    decisionId: 'd1',
    target: input.target,
    segment: 'default',
    state,
    stage: 1,
    stages: [],
    weights: null,
    configVersion: 7,
    paused,
    awaitingApproval: null,
    verdicts: [],
    reason,
    rollbackId: null,
  }));
  await condition(() => state === 'aborted');
  return { state, by };
}
