/** Every workflow type the orchestration worker registers. Names are durable: never rename one with live runs. */
export { optimizationCycle, cycleStatusQuery } from './optimization-cycle';
