/** One valid event of each type with the free-text fields it may carry, for the event-text tests. */
const envelope = { id: 'e-1', timestamp: '2026-11-27T11:59:00Z', target: 'bot', segment: 'default' };

/** One valid event of each type, and the paths of the free-text strings it may carry. */
export const EVENT_TEXT_FIELDS: { event: Record<string, unknown>; fields: string[] }[] = [
  {
    event: {
      type: 'llm.request',
      ...envelope,
      request_id: 'r',
      model: 'm',
      provider: 'p',
      latency_ms: 1,
      input_tokens: 1,
      output_tokens: 1,
      status: 'error',
      error_type: 'e',
    },
    fields: ['request_id', 'model', 'provider', 'error_type'],
  },
  {
    event: { type: 'user.feedback', ...envelope, request_id: 'r', thumbs: 'up', comment: 'c' },
    fields: ['request_id', 'comment'],
  },
  {
    event: { type: 'eval.result', ...envelope, request_id: 'r', dataset_item: 'd', evaluator: 'v', score: 1 },
    fields: ['request_id', 'dataset_item', 'evaluator'],
  },
  {
    event: {
      type: 'experiment.exposure',
      ...envelope,
      arm: 'a',
      experiment_id: 'x',
      assignment_key: 'k',
    },
    fields: ['experiment_id', 'assignment_key'],
  },
  { event: { type: 'system.health', ...envelope, component: 'c', status: 'ok' }, fields: ['component'] },
];
