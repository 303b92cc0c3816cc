/** @llm-auto-optimizer/sdk: routing configs, sticky arm assignment and batched telemetry for applications. */
export {
  createOptimizer,
  Optimizer,
  usageFrom,
  DEFAULT_SEGMENT,
  UNASSIGNED_ARM,
  type Assignment,
  type CallUsage,
  type OptimizerOptions,
  type TrackContext,
  type TrackOptions,
} from './client.js';
export type { RoutingConfig } from './configs.js';
export { OptimizerError, type OptimizerErrorKind } from './errors.js';
export type { TelemetryEvent, TelemetryStats } from './telemetry.js';
export { assignArm, bucketOf, fnv1a32, TOTAL_BASIS_POINTS, type Weights } from './routing.js';
