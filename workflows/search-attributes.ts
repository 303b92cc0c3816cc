/** Typed keys of the custom search attributes (registered by infra/services.sh and the embedded server). */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const TargetKey = defineSearchAttributeKey('Target', SearchAttributeType.KEYWORD);
export const SegmentKey = defineSearchAttributeKey('Segment', SearchAttributeType.KEYWORD);
export const StrategyKey = defineSearchAttributeKey('Strategy', SearchAttributeType.KEYWORD);
export const RolloutStateKey = defineSearchAttributeKey('RolloutState', SearchAttributeType.KEYWORD);
export const DecisionIdKey = defineSearchAttributeKey('DecisionId', SearchAttributeType.KEYWORD);
