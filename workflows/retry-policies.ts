/** Retry policies the workflows share. */

/** Light writes to PostgreSQL: quick to time out, retried with backoff for about five minutes. */
export const WRITE_RETRY = {
  initialInterval: '500 milliseconds',
  backoffCoefficient: 2,
  maximumInterval: '30 seconds',
  maximumAttempts: 15,
} as const;
