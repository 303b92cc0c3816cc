/**
 * What a shard needs from the outside, as interfaces: where it commits (pipeline/adapters/store.ts over
 * PostgreSQL) and whom it tells about open and committed windows (pipeline/adapters/aggregates-cache.ts).
 * The dedup store and the join index have their own modules (dedup.ts, join.ts).
 */
import type { AggregateState, WindowKey } from './windowing/aggregate-state';

export interface ShardWindow extends WindowKey {
  state: AggregateState;
}

export interface Checkpoint {
  /** Next offset the shard reads; everything before it is reflected in the rows. */
  nextOffset: number;
  /** Epoch ms of the shard's watermark, null before its first event. */
  watermark: number | null;
  /** Counters since the shard began, for /metrics and tests. */
  events: number;
  duplicates: number;
  tooLate: number;
}

export interface ClaimedShard extends Checkpoint {
  epoch: number;
}

export interface DeadLetter {
  offset: number;
  eventId: string | null;
  /** `<reason>: <detail>`, the reason one of DEAD_LETTER_REASONS (pipeline/adapters/store.ts). */
  reason: string;
  /** The event or message as parsed (null when it did not parse). */
  payload: unknown;
  /** The bytes as they arrived (a Kafka message's value); JSON of `payload` when absent. */
  raw?: Buffer;
}

/** A feedback or eval held by a shard until its request arrives (ingest_pending_joins). */
export interface PendingJoin {
  eventId: string;
  requestId: string;
  /** Event time, epoch ms. */
  ts: number;
  offset: number;
  /** The validated event as ingested. */
  event: unknown;
}

/** Changes to a shard's waiting feedback since its last commit: new ones stored, resolved ones dropped. */
export interface PendingJoinChanges {
  put: readonly PendingJoin[];
  drop: readonly string[];
}

/**
 * A shard's durable state: one owner at a time (each claim raises the epoch, a commit under an older
 * one is refused), windows rewritten whole with the checkpoint in one transaction.
 */
export interface ShardStore {
  /** Takes the shard (a new epoch) and returns its last commit. */
  claim(shard: string): Promise<ClaimedShard>;
  /** The last commit again, under the epoch this owner holds (refused once another owner claimed it). */
  resume(shard: string, epoch: number): Promise<ClaimedShard>;
  /** The shard's windows ending after `sinceEnd`. */
  loadShard(shard: string, sinceEnd: number): Promise<ShardWindow[]>;
  loadPendingJoins(shard: string): Promise<PendingJoin[]>;
  commit(
    shard: string,
    epoch: number,
    windows: readonly ShardWindow[],
    checkpoint: Checkpoint,
    deadLetters?: readonly DeadLetter[],
    pending?: PendingJoinChanges,
  ): Promise<void>;
}

/** The writer side of the aggregates cache, told by each shard. */
export interface AggregatesPublisher {
  /** Open windows as of `offset` (processed, not yet committed), so readers see them before the commit. */
  publishHot(shard: string, offset: number, windows: readonly ShardWindow[]): Promise<void>;
  /** After a commit: announce the changed blocks; drop the hot copies of the finalized windows. */
  committed(shard: string, windows: readonly WindowKey[], finalized: readonly WindowKey[]): Promise<void>;
}
