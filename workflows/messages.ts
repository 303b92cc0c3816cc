/**
 * The rollout contracts under their former module name, for importers written before ./contracts.ts
 * (the API handlers, which are moving onto the service layer). New code imports ./contracts.
 */
export {
  pauseRolloutSignal,
  resumeRolloutSignal,
  abortRolloutSignal,
  approveStageUpdate,
  rolloutStatusQuery,
  decideApprovalUpdate,
  type PauseRequest,
  type AbortRequest,
  type ApproveStageRequest,
  type ApprovalDecisionRequest,
  type StageVerdict,
  type RolloutInput,
  type HealthWatchInput,
  type HealthWatchResult,
  type RolloutStatus,
  type RolloutResult,
  type RollbackTrigger,
  type RollbackInput,
  type RollbackResult,
} from './contracts';
