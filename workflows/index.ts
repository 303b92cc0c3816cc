/** Every workflow type the orchestration worker registers. Names are durable: never rename one with live runs. */
export { optimizationCycle, cycleStatusQuery } from './optimization-cycle';
export { canaryRollout } from './canary-rollout';
export { rollback } from './rollback';
export { notifyEvent, redeliverWebhook } from './notify';
export { healthWatch } from './health-watch';
