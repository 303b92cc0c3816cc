/**
 * The notification, judge and prompt-proposal contracts under their former module name, for importers
 * written before ./contracts.ts. New code imports ./contracts.
 */
export {
  INTEGRATIONS,
  notifyWorkflowId,
  redeliverWorkflowId,
  NOTIFY_WORKFLOW_TYPES,
  JUDGE_COUNTERS,
  zeroJudgeCounts,
  judgeScheduleId,
  JUDGE_WORKFLOW_TYPE,
  PROMPT_PROPOSAL_WORKFLOW_TYPE,
  promptProposalWorkflowId,
  type NotifyIntegration,
  type DeliveryPolicy,
  type NotifyInput,
  type RedeliverInput,
  type NotificationPlan,
  type DeliveryOutcome,
  type IntegrationOutcome,
  type NotifyResult,
  type JudgeRunInput,
  type JudgeBatchInput,
  type JudgeBatchResult,
  type JudgeRunResult,
  type ProposalRequest,
  type ProposalOutcome,
} from './contracts';
