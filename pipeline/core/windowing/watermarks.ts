/**
 * Watermarks across partitions: each partition's watermark trails the largest event time it carried by
 * the out-of-orderness bound; the combined watermark is the smallest among partitions that are not
 * idle, so a partition without traffic does not hold every other one back. Processing time (`now`) only
 * decides idleness; it is passed in, never read.
 */
export interface PartitionWatermarkOptions {
  maxOutOfOrdernessMs: number;
  /** A partition with no event for this long (processing time) stops holding the watermark back. */
  idleTimeoutMs: number;
}

interface PartitionState {
  maxTs: number;
  lastSeenAt: number;
}

export class PartitionWatermarks {
  private readonly partitions = new Map<string, PartitionState>();

  constructor(private readonly opts: PartitionWatermarkOptions) {}

  observe(partition: string, eventTs: number, now: number): void {
    const p = this.partitions.get(partition);
    if (!p) this.partitions.set(partition, { maxTs: eventTs, lastSeenAt: now });
    else {
      if (eventTs > p.maxTs) p.maxTs = eventTs;
      p.lastSeenAt = now;
    }
  }

  /** The partition's own watermark (-Infinity when it never carried an event). */
  of(partition: string): number {
    const p = this.partitions.get(partition);
    return p ? p.maxTs - this.opts.maxOutOfOrdernessMs : Number.NEGATIVE_INFINITY;
  }

  isIdle(partition: string, now: number): boolean {
    const p = this.partitions.get(partition);
    return !p || now - p.lastSeenAt >= this.opts.idleTimeoutMs;
  }

  /**
   * Minimum over active partitions; when every partition is idle, the largest of them (nothing is in
   * flight, so everything seen is complete). -Infinity before any event.
   */
  current(now: number): number {
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    let active = 0;
    for (const [name] of this.partitions) {
      const wm = this.of(name);
      max = Math.max(max, wm);
      if (!this.isIdle(name, now)) {
        active++;
        min = Math.min(min, wm);
      }
    }
    return active > 0 ? min : max;
  }
}
