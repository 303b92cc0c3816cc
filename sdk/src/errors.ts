/** What the SDK reports to `onError`; it never throws into the application. */
export type OptimizerErrorKind =
  /** Reading a routing config failed; the last known config (or the fallback arm) keeps serving. */
  | 'config'
  /** A telemetry batch failed after its retries, or was refused as a whole; its events are dropped. */
  | 'telemetry'
  /** The server rejected some events of a batch (invalid); the rest were accepted. */
  | 'rejected'
  /** The buffer was full and the oldest events were dropped to make room. */
  | 'overflow';

export class OptimizerError extends Error {
  override name = 'OptimizerError';
  constructor(
    readonly kind: OptimizerErrorKind,
    message: string,
    readonly details: {
      status?: number;
      dropped?: number;
      target?: string;
      segment?: string;
      cause?: unknown;
      rejected?: unknown[];
    } = {},
  ) {
    super(message);
  }
}
