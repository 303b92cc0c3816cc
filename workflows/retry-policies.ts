/** Retry policies the workflows share. */

/** Light writes to PostgreSQL: quick to time out, retried with backoff for about five minutes. */
export const WRITE_RETRY = {
  initialInterval: '500 milliseconds',
  backoffCoefficient: 2,
  maximumInterval: '30 seconds',
  maximumAttempts: 15,
} as const;

/** A cycle's reads and analysis: short, so a cycle whose database is down fails within a minute. */
export const CYCLE_ANALYSIS_RETRY = {
  initialInterval: '200 milliseconds',
  backoffCoefficient: 2,
  maximumInterval: '10 seconds',
  maximumAttempts: 8,
} as const;

/** Judging a window reads many aggregates: given up to a minute between tries, ten tries in all. */
export const JUDGE_RETRY = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
  maximumAttempts: 10,
} as const;

/** Failure types of the integrations queue that no retry can cure. */
export const PERMANENT_INTEGRATION_FAILURES = ['DeliveryRejected', 'InvalidInput', 'InvalidConfig'];
