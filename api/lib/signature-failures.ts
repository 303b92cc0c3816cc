/**
 * Refused signatures of the signed inbound routes (Slack commands, GitHub webhooks), counted per source:
 * a rise means a misconfigured secret or someone probing the routes. Each refusal also spends the route
 * family's anonymous rate limit (api/middleware/security.ts).
 */
import { registeredDeferredCounter, type Metrics } from '../../platform/metrics';

export type SignedSource = 'slack' | 'github';

export function signatureFailures(metrics: Metrics, source: SignedSource): { inc(): void } {
  return registeredDeferredCounter(metrics.registry, {
    name: 'llmopt_inbound_signature_failures_total',
    help: 'Inbound requests refused for a missing, stale or wrong signature, by source',
    labelNames: ['source'],
  }).bind({ source });
}
