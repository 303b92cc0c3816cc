/**
 * Dedup by event id within a horizon. The marker stored for an id is where it was first seen
 * ("<shard>@<offset>"), not merely "seen": a shard replaying its own uncommitted records after a crash
 * finds its own marker and counts them again (they were never durably counted), while a resend of an
 * id first seen elsewhere is a duplicate. So the decision is a function of the log, whatever crashed.
 */
export interface DedupItem {
  id: string;
  offset: number;
}

export interface Dedup {
  /** For each item, whether it is the first occurrence of its id (counted) or a duplicate. */
  firstSeen(shard: string, items: readonly DedupItem[]): Promise<boolean[]>;
  /** Rebuild from a retained log after a restart (in-process store only). */
  seed?(shard: string, items: readonly DedupItem[]): void;
  /**
   * How long a write-ahead log must keep committed records for `seed` to rebuild this store after a
   * restart: an id acknowledged within the horizon is still a duplicate then. Unset: the store outlives
   * the process (Redis).
   */
  readonly logRetentionMs?: number;
  readonly kind: 'redis' | 'memory';
}

/** The value stored for an id: the shard and offset it was first seen at. */
export const marker = (shard: string, offset: number) => `${shard}@${offset}`;

/** Whether the item at `offset` of `shard` is the first occurrence, given the marker stored for its id. */
export function isFirst(shard: string, offset: number, stored: string | null): boolean {
  if (stored === null) return true;
  const at = stored.lastIndexOf('@');
  const storedShard = stored.slice(0, at);
  const storedOffset = Number(stored.slice(at + 1));
  // Our own mark (a replay), or a mark from a later offset of ours left by a run whose marks expired.
  return storedShard === shard && storedOffset >= offset;
}

/**
 * One process only: the store lives in memory, bounded by the horizon and a maximum size. A restart
 * rebuilds it from the write-ahead log, which therefore keeps committed segments for the horizon.
 */
export function createMemoryDedup(
  horizonMs: number,
  maxEntries = 5_000_000,
  now: () => number = Date.now,
): Dedup {
  const seen = new Map<string, { marker: string; at: number }>();
  const evict = () => {
    const cutoff = now() - horizonMs;
    for (const [id, v] of seen) {
      if (v.at > cutoff && seen.size <= maxEntries) break;
      seen.delete(id);
    }
  };
  const mark = (shard: string, it: DedupItem): boolean => {
    const prev = seen.get(it.id);
    if (prev) return isFirst(shard, it.offset, prev.marker);
    seen.set(it.id, { marker: marker(shard, it.offset), at: now() });
    return true;
  };
  return {
    kind: 'memory',
    logRetentionMs: horizonMs,
    async firstSeen(shard, items) {
      evict();
      return items.map((it) => mark(shard, it));
    },
    seed(shard, items) {
      for (const it of items) mark(shard, it);
    },
  };
}
