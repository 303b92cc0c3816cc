/** How hard outbound notifications are tried: a setting of the process, carried by each notify run. */

/** How hard a webhook delivery is tried; from the WEBHOOK_* settings of the process that starts it. */
export interface DeliveryPolicy {
  maxAttempts: number;
  initialIntervalMs: number;
  maxIntervalMs: number;
  /** Longest one attempt may take (the subscriber's timeout plus redirects). */
  attemptTimeoutMs: number;
  /** A worker that dies mid-attempt is noticed after this long, and the attempt is retried elsewhere. */
  heartbeatTimeoutMs: number;
  /** Attempts of one Slack, GitHub or Jira call. */
  integrationMaxAttempts: number;
}
