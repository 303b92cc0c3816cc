/**
 * Where a long or writing activity may still give up when its workflow is cancelled. A cancel reaches a
 * running activity only through a heartbeat's answer, so the activity heartbeats at each checkpoint and
 * throws `CancelledFailure` once the cancel has arrived: what comes after (a write) does not happen. The
 * workflow waits for the activity to stop or finish before it cleans up, so a write that raced the
 * cancel is still seen by the cleanup.
 */
import { CancelledFailure, Context } from '@temporalio/activity';

/** The activity's context, or none when the function is called directly (a test, a script). */
function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/** Heartbeats `step` and throws `CancelledFailure` when the activity was cancelled; a no-op outside one. */
export function checkpoint(step: string): void {
  const ctx = currentContext();
  if (!ctx) return;
  ctx.heartbeat(step);
  if (ctx.cancellationSignal.aborted) throw new CancelledFailure(`cancelled before ${step}`);
}
