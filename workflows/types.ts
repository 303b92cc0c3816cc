/** The cycle contracts under their former module name, for importers written before ./contracts.ts. */
export type { CycleInput, CyclePhase, CycleStatus, CycleResult } from './contracts';
