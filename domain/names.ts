/**
 * Names every process agrees on: task queues, workflow type names, search attributes.
 * Workflow type names are durable: never rename one that has live runs.
 */

export const TASK_QUEUES = {
  orchestration: 'optimizer-orchestration',
  analysis: 'optimizer-analysis',
  integrations: 'optimizer-integrations',
} as const;

export type TaskQueues = { [K in keyof typeof TASK_QUEUES]: string };

export const WORKFLOW_TYPES = {
  optimizationCycle: 'optimizationCycle',
  canaryRollout: 'canaryRollout',
  rollback: 'rollback',
  healthWatch: 'healthWatch',
} as const;

/** Custom search attributes registered on the Temporal namespace (all Keyword). */
export const SEARCH_ATTRIBUTES = ['Target', 'Segment', 'Strategy', 'RolloutState', 'DecisionId'] as const;
export type SearchAttributeName = (typeof SEARCH_ATTRIBUTES)[number];

export const DEFAULT_SEGMENT = 'default';

/**
 * Workflow ids carry the business key so a person can find a run by its target.
 *
 * Optimization cycles have one scheme for every starter (app/cycles.ts builds them, nothing else):
 * - `cycle-<target>-<yyyy-mm-ddthhmmssmmmz>`: started without an idempotency key (REST, gRPC, CLI), by
 *   the time of the start; two starts in the same millisecond are one duplicate start.
 * - `cycle-<target>-key-<digest>`: started with an idempotency key; the digest (hex) of the caller and
 *   the key, so a repeat through any door names the same run, and two callers' keys never meet.
 * - `cycle-<target>-scheduled-<RFC 3339 time>`: started by the target's Temporal schedule, whose action
 *   carries `cycleScheduled(target)`; Temporal appends `-` and the nominal time of each action
 *   (`-2026-12-03T12:00:00Z`), so every scheduled run has an id of its own.
 * The three forms never collide: a time stamp has `t` and `z` (not hex), a scheduled time upper case.
 */
export const workflowIds = {
  cycle: (target: string, at: Date | number): string =>
    `cycle-${target}-${new Date(at).toISOString().replace(/[:.]/g, '').replace('T', 't').toLowerCase()}`,
  cycleKeyed: (target: string, keyDigest: string): string => `cycle-${target}-key-${keyDigest}`,
  cycleScheduled: (target: string): string => `cycle-${target}-scheduled`,
  /** Every id the three forms above produce (and nothing with a path or query character in it). */
  cyclePattern: /^cycle-[a-z0-9][a-z0-9._-]*(?:-scheduled-\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)?$/,
  rollout: (target: string, decisionId: string): string => `rollout-${target}-${decisionId}`,
  rollback: (target: string, segment: string, toVersion: number): string =>
    `rollback-${target}-${segment}-v${toVersion}`,
  healthWatch: (target: string): string => `health-${target}`,
} as const;
