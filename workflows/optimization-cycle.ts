import {
  ApplicationFailure,
  defineQuery,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  setCurrentDetails,
} from '@temporalio/workflow';
import type { AnalysisActivities } from '../activities/analysis';
import { TargetKey, SegmentKey, StrategyKey } from './search-attributes';
import type { CycleInput, CycleResult, CycleStatus, CyclePhase } from './types';

export const cycleStatusQuery = defineQuery<CycleStatus>('cycleStatus');

/**
 * One optimization cycle for one target: load it, analyze and decide, record the decisions.
 * Activities run on the analysis task queue. Fails with `TargetNotFound` when the target does not exist.
 */
export async function optimizationCycle(input: CycleInput): Promise<CycleResult> {
  const { loadTarget, decideCycle, recordDecisions } = proxyActivities<AnalysisActivities>({
    taskQueue: input.taskQueues.analysis,
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 8 },
  });

  let phase: CyclePhase = 'loading';
  let decisionIds: string[] = [];
  setHandler(cycleStatusQuery, () => ({ target: input.target, phase, decisionIds }));

  upsertSearchAttributes([
    { key: TargetKey, value: input.target },
    ...(input.segment ? [{ key: SegmentKey, value: input.segment }] : []),
  ]);
  setCurrentDetails(`Loading target **${input.target}**`);

  try {
    const target = await loadTarget.executeWithOptions({ summary: `load target ${input.target}` }, [input.target]);
    const segments = input.segment ? [input.segment] : target.segments;
    for (const s of segments) {
      if (!target.segments.includes(s)) {
        throw ApplicationFailure.nonRetryable(`target "${input.target}" has no segment "${s}"`, 'InvalidInput');
      }
    }

    phase = 'analyzing';
    setCurrentDetails(`Analyzing ${segments.length} segment(s) of **${input.target}**`);
    const drafts = await decideCycle.executeWithOptions(
      { summary: `analyze and decide ${input.target} (${segments.join(', ')})` },
      [{ target: input.target, segments, cycleId: workflowInfo().workflowId }],
    );

    phase = 'recording';
    const strategies = [...new Set(drafts.map((d) => d.strategy))].sort();
    upsertSearchAttributes([{ key: StrategyKey, value: strategies.join(',') || 'none' }]);
    const decisions = await recordDecisions.executeWithOptions(
      { summary: `record ${drafts.length} decision(s) for ${input.target}` },
      [{ cycleId: workflowInfo().workflowId, drafts }],
    );
    decisionIds = decisions.map((d) => d.id);
    phase = 'done';
    setCurrentDetails(
      decisions.map((d) => `- **${d.segment}**: ${d.kind} (${d.strategy}) — ${d.explanation}`).join('\n') ||
        'No decisions',
    );
    return { target: input.target, decisions };
  } catch (err) {
    phase = 'failed';
    throw err;
  }
}
