/**
 * The feedback join index: request_id → where the `llm.request` was counted (segment, arm, event
 * time). A shard keeps the requests it saw itself; this index is what it asks for feedback whose
 * request it did not see (after a restart, or when another shard took the request). Shared between
 * processes it lives in Redis (pipeline/adapters/join-index.ts).
 */
export interface JoinEntry {
  segment: string;
  arm: string;
  /** Event time of the request, epoch ms. */
  ts: number;
}

export interface JoinIndex {
  /** Requests by id, for feedback at event times `ts` (a request is looked for within the horizon). */
  lookup(items: readonly { requestId: string; ts: number }[]): Promise<Map<string, JoinEntry>>;
  record(entries: readonly (readonly [string, JoinEntry])[]): Promise<void>;
}

/**
 * The index of the shards of one process (several shards of one thread, tests): a request is found by
 * feedback up to `horizonMs` of event time after it, as in Redis; older entries are forgotten as newer
 * ones arrive.
 */
export function createMemoryJoinIndex(horizonMs: number): JoinIndex {
  const entries = new Map<string, JoinEntry>();
  let newest = Number.NEGATIVE_INFINITY;
  return {
    async lookup(items) {
      const found = new Map<string, JoinEntry>();
      for (const it of items) {
        const e = entries.get(it.requestId);
        if (e && e.ts >= it.ts - horizonMs) found.set(it.requestId, e);
      }
      return found;
    },
    async record(recorded) {
      for (const [id, e] of recorded) {
        entries.delete(id);
        entries.set(id, e);
        newest = Math.max(newest, e.ts);
      }
      // Map order is insertion order, close to event time: the oldest go first.
      for (const [id, e] of entries) {
        if (e.ts >= newest - 2 * horizonMs) break;
        entries.delete(id);
      }
    },
  };
}
