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

/** Workflow ids carry the business key so a person can find a run by its target. */
export const workflowIds = {
  cycle: (target: string, at: Date | number): string =>
    `cycle-${target}-${new Date(at).toISOString().replace(/[:.]/g, '').replace('T', 't').toLowerCase()}`,
  rollout: (target: string, decisionId: string): string => `rollout-${target}-${decisionId}`,
  rollback: (target: string, segment: string, toVersion: number): string =>
    `rollback-${target}-${segment}-v${toVersion}`,
  healthWatch: (target: string): string => `health-${target}`,
} as const;
