/** Inputs, results and message payloads of the workflows. Pure types: shared with the API and activities. */
import type { TaskQueues } from '../domain/names';
import type { Decision } from '../domain/model';

export interface CycleInput {
  target: string;
  /** Only this segment; all of the target's segments when absent. */
  segment?: string;
  trigger: 'api' | 'schedule';
  /** Task queues of the activity owners; the standard names unless a test isolates itself. */
  taskQueues: TaskQueues;
}

export type CyclePhase = 'loading' | 'analyzing' | 'deciding' | 'recording' | 'done' | 'failed';

export interface CycleStatus {
  target: string;
  phase: CyclePhase;
  decisionIds: string[];
}

export interface CycleResult {
  target: string;
  decisions: Decision[];
}
