/**
 * Window aggregates in PostgreSQL. Each ingest shard (a WAL, a Kafka partition) owns one row per window
 * and rewrites it whole, together with the shard's checkpoint, in one transaction: a replay after a
 * crash rewrites the same rows from the same offsets, so nothing counts twice. Readers merge shards.
 */
import type { WindowAggregate } from '../../domain/aggregate';
import {
  decodeState,
  encodeState,
  mergeInto,
  toWindowAggregate,
  type EncodedState,
  type WindowKey,
} from '../core/windowing/aggregate-state';
import { isStorableValue, toStorableText } from '../../domain/storable-text';
import { withTransaction, type Db } from '../../adapters/db/pool';
import type {
  Checkpoint,
  ClaimedShard,
  DeadLetter,
  PendingJoin,
  PendingJoinChanges,
  ShardWindow,
} from '../core/ports';

export type { Checkpoint, ClaimedShard, DeadLetter, PendingJoin, PendingJoinChanges, ShardWindow };

/** One shard's row of one window, encoded, with the shard offset its state reflects. */
export interface StoredShardRow extends WindowKey {
  shard: string;
  offset: number;
  state: EncodedState;
}

/** Why an offset went to the dead letters: the leading word of its reason, a fixed set. */
export const DEAD_LETTER_REASONS = ['too_late', 'invalid_json', 'invalid_event', 'unstorable'] as const;
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

/** A dead letter as the API lists it: `raw` is exactly what arrived, whatever it contains. */
export interface StoredDeadLetter {
  id: number;
  shard: string;
  offset: number;
  eventId: string | null;
  reason: string;
  reasonCode: string;
  raw: Buffer;
  createdAt: Date;
  replayedAt: Date | null;
}

/** The reason code a reason text starts with (what the reason_code column stores). */
export const deadLetterReason = (reason: string): string => reason.split(':', 1)[0]!;

/** The shard was claimed by another owner since this one loaded it (rebalance); drop its state. */
export class ShardFencedError extends Error {
  override name = 'ShardFencedError';
}

interface AggregateRow extends EncodedState {
  target: string;
  segment: string;
  arm: string;
  window_start: Date;
  window_end: Date;
}

const COLUMNS = `target, segment, arm, window_start, window_end, count, ok, errors, latency_sum_us, latency_sketch,
  ttft_sketch, input_tokens, output_tokens, cost_nusd, cache_hits, quality_count, quality_mean, quality_m2, feedback`;

const keyOf = (r: { target: string; segment: string; arm: string; start: number; end: number }) =>
  `${r.target}\u0000${r.segment}\u0000${r.arm}\u0000${r.start}\u0000${r.end}`;

/** Rows per INSERT statement: 21 parameters a row stays well under PostgreSQL's 65,535 limit. */
const UPSERT_CHUNK = 500;

export function createAggregatesRepo(db: Db) {
  return {
    /**
     * Stored base windows of target/segment/arm overlapping [from, to), as WindowAggregate, shards merged.
     * Without segment (or arm) every segment (arm) is returned, each as its own series.
     */
    async query(q: {
      target: string;
      segment?: string;
      arm?: string;
      from: string;
      to: string;
    }): Promise<WindowAggregate[]> {
      const merged = await this.queryStates(q);
      return merged.map((w) => toWindowAggregate(w, w.state));
    },

    /** Like query, but the mergeable states (for re-bucketing into coarser steps without loss). */
    async queryStates(q: {
      target: string;
      segment?: string;
      arm?: string;
      from: string;
      to: string;
    }): Promise<ShardWindow[]> {
      const r = await db.query<AggregateRow>(
        `SELECT ${COLUMNS} FROM window_aggregates
          WHERE target = $1 AND ($2::text IS NULL OR segment = $2) AND ($3::text IS NULL OR arm = $3)
            AND window_start < $5::timestamptz AND window_end > $4::timestamptz
          ORDER BY window_start, segment, arm`,
        [q.target, q.segment ?? null, q.arm ?? null, q.from, q.to],
      );
      const out = new Map<string, ShardWindow>();
      for (const row of r.rows) {
        const w: ShardWindow = { ...keyOfRow(row), state: decodeState(row) };
        const k = keyOf(w);
        const prev = out.get(k);
        if (prev) mergeInto(prev.state, w.state);
        else out.set(k, w);
      }
      return [...out.values()];
    },

    /**
     * Every shard's own row (not merged) of the target's windows starting in [startFrom, startTo), with
     * the offset each reflects: what a reader needs to prefer a fresher hot copy of the same row.
     */
    async shardRows(target: string, startFrom: number, startTo: number): Promise<StoredShardRow[]> {
      const r = await db.query<AggregateRow & { shard: string; through_offset: number }>(
        `SELECT ${COLUMNS}, shard, through_offset FROM window_aggregates
          WHERE target = $1 AND window_start >= $2::timestamptz AND window_start < $3::timestamptz`,
        [target, new Date(startFrom).toISOString(), new Date(startTo).toISOString()],
      );
      return r.rows.map((row) => ({
        ...keyOfRow(row),
        shard: row.shard,
        offset: Number(row.through_offset),
        state: encodedOf(row),
      }));
    },

    /**
     * Takes ownership of a shard: bumps its epoch (fencing any previous owner) and returns where it stands.
     */
    async claim(shard: string): Promise<ClaimedShard> {
      const r = await db.query<CheckpointRow>(
        `INSERT INTO ingest_checkpoints (shard, epoch) VALUES ($1, 1)
         ON CONFLICT (shard) DO UPDATE SET epoch = ingest_checkpoints.epoch + 1, updated_at = now()
         RETURNING epoch, next_offset, watermark, events, duplicates, too_late`,
        [shard],
      );
      return claimedOf(r.rows[0]!);
    },

    /**
     * Where the shard's last commit left it, for the owner of `epoch` (a shard going back to its last
     * commit); ShardFencedError when another owner claimed it since.
     */
    async resume(shard: string, epoch: number): Promise<ClaimedShard> {
      const r = await db.query<CheckpointRow>(
        `SELECT epoch, next_offset, watermark, events, duplicates, too_late FROM ingest_checkpoints
          WHERE shard = $1 AND epoch = $2`,
        [shard, epoch],
      );
      if (!r.rows[0]) throw new ShardFencedError(`shard ${shard} was claimed by another owner`);
      return claimedOf(r.rows[0]);
    },

    /** The shard's own rows of windows ending after `sinceEnd` (epoch ms): the open state to resume. */
    async loadShard(shard: string, sinceEnd: number): Promise<ShardWindow[]> {
      const r = await db.query<AggregateRow>(
        `SELECT ${COLUMNS} FROM window_aggregates WHERE shard = $1 AND window_end > $2::timestamptz`,
        [shard, new Date(sinceEnd).toISOString()],
      );
      return r.rows.map((row) => ({ ...keyOfRow(row), state: decodeState(row) }));
    },

    /**
     * Writes the shard's changed windows (whole state, not deltas), its dead letters and its checkpoint
     * in one transaction. Throws ShardFencedError when another owner claimed the shard meanwhile.
     */
    async commit(
      shard: string,
      epoch: number,
      windows: readonly ShardWindow[],
      checkpoint: Checkpoint,
      deadLetters: readonly DeadLetter[] = [],
      pending: PendingJoinChanges = { put: [], drop: [] },
    ): Promise<void> {
      await withTransaction(db, async (tx) => {
        // Lock the checkpoint row first: a concurrent claim waits, and a stale owner sees its epoch gone.
        const fence = await tx.query(
          `UPDATE ingest_checkpoints SET next_offset = $3, watermark = $4, events = $5, duplicates = $6, too_late = $7,
             updated_at = now() WHERE shard = $1 AND epoch = $2`,
          [
            shard,
            epoch,
            checkpoint.nextOffset,
            checkpoint.watermark === null ? null : new Date(checkpoint.watermark).toISOString(),
            checkpoint.events,
            checkpoint.duplicates,
            checkpoint.tooLate,
          ],
        );
        if (fence.rowCount !== 1) throw new ShardFencedError(`shard ${shard} was claimed by another owner`);
        for (let i = 0; i < windows.length; i += UPSERT_CHUNK) {
          const chunk = windows.slice(i, i + UPSERT_CHUNK);
          const params: unknown[] = [];
          const tuples = chunk.map((w) => {
            const e = encodeState(w.state);
            const base = params.length;
            params.push(
              w.target,
              w.segment,
              w.arm,
              new Date(w.start).toISOString(),
              new Date(w.end).toISOString(),
              shard,
              e.count,
              e.ok,
              JSON.stringify(e.errors),
              e.latency_sum_us,
              e.latency_sketch,
              e.ttft_sketch,
              e.input_tokens,
              e.output_tokens,
              e.cost_nusd,
              e.cache_hits,
              e.quality_count,
              e.quality_mean,
              e.quality_m2,
              JSON.stringify(e.feedback),
              checkpoint.nextOffset,
            );
            return `(${Array.from({ length: 21 }, (_, j) => `$${base + j + 1}`).join(',')})`;
          });
          await tx.query(
            `INSERT INTO window_aggregates (target, segment, arm, window_start, window_end, shard, count, ok, errors,
               latency_sum_us, latency_sketch, ttft_sketch, input_tokens, output_tokens, cost_nusd, cache_hits,
               quality_count, quality_mean, quality_m2, feedback, through_offset)
             VALUES ${tuples.join(',')}
             ON CONFLICT (target, segment, arm, window_start, window_end, shard) DO UPDATE SET
               count = excluded.count, ok = excluded.ok, errors = excluded.errors, latency_sum_us = excluded.latency_sum_us,
               latency_sketch = excluded.latency_sketch, ttft_sketch = excluded.ttft_sketch,
               input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
               cost_nusd = excluded.cost_nusd, cache_hits = excluded.cache_hits, quality_count = excluded.quality_count,
               quality_mean = excluded.quality_mean, quality_m2 = excluded.quality_m2, feedback = excluded.feedback,
               through_offset = excluded.through_offset, updated_at = now()`,
            params,
          );
        }
        for (const d of deadLetters) {
          // The raw bytes always store; the jsonb copy only when it can hold the payload exactly.
          const json = JSON.stringify(d.payload ?? null);
          await tx.query(
            `INSERT INTO ingest_dead_letters (shard, "offset", event_id, reason, payload, raw)
             VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING`,
            [
              shard,
              d.offset,
              d.eventId === null ? null : toStorableText(d.eventId),
              toStorableText(d.reason),
              isStorableValue(d.payload ?? null) ? json : null,
              d.raw ?? Buffer.from(json, 'utf8'),
            ],
          );
        }
        // Waiting feedback moves with the offset: stored once the offset passes it, dropped once counted.
        if (pending.drop.length > 0) {
          await tx.query(`DELETE FROM ingest_pending_joins WHERE shard = $1 AND event_id = ANY($2::text[])`, [
            shard,
            pending.drop,
          ]);
        }
        for (let i = 0; i < pending.put.length; i += UPSERT_CHUNK) {
          const chunk = pending.put.slice(i, i + UPSERT_CHUNK);
          await tx.query(
            `INSERT INTO ingest_pending_joins (shard, event_id, request_id, event_ts, "offset", payload)
             SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::jsonb[])
             ON CONFLICT (shard, event_id) DO NOTHING`,
            [
              shard,
              chunk.map((p) => p.eventId),
              chunk.map((p) => p.requestId),
              chunk.map((p) => p.ts),
              chunk.map((p) => p.offset),
              chunk.map((p) => JSON.stringify(p.event)),
            ],
          );
        }
      });
    },

    /** The feedback and evals the shard's last commit left waiting for their request, in offset order. */
    async loadPendingJoins(shard: string): Promise<PendingJoin[]> {
      const r = await db.query<{
        event_id: string;
        request_id: string;
        event_ts: number;
        offset: number;
        payload: unknown;
      }>(
        `SELECT event_id, request_id, event_ts, "offset", payload FROM ingest_pending_joins
          WHERE shard = $1 ORDER BY "offset", event_id`,
        [shard],
      );
      return r.rows.map((row) => ({
        eventId: row.event_id,
        requestId: row.request_id,
        ts: Number(row.event_ts),
        offset: Number(row.offset),
        event: row.payload,
      }));
    },

    async checkpoints(prefix = ''): Promise<(Checkpoint & { shard: string; epoch: number })[]> {
      const r = await db.query<CheckpointRow & { shard: string }>(
        `SELECT * FROM ingest_checkpoints WHERE shard LIKE $1 || '%' ORDER BY shard`,
        [prefix],
      );
      return r.rows.map((row) => ({ shard: row.shard, ...claimedOf(row) }));
    },

    /**
     * Dead letters newest first, after `beforeId` when paging, filtered by reason code and shard prefix;
     * replayed ones only when asked for.
     */
    async listDeadLetters(q: {
      limit: number;
      reason?: string;
      shardPrefix?: string;
      beforeId?: number;
      includeReplayed?: boolean;
    }): Promise<StoredDeadLetter[]> {
      const r = await db.query<DeadLetterRow>(
        `SELECT ${DEAD_LETTER_COLUMNS} FROM ingest_dead_letters
          WHERE ($1::text IS NULL OR reason_code = $1) AND ($2::text IS NULL OR starts_with(shard, $2))
            AND ($3::bigint IS NULL OR id < $3) AND ($4 OR replayed_at IS NULL)
          ORDER BY id DESC LIMIT $5`,
        [q.reason ?? null, q.shardPrefix ?? null, q.beforeId ?? null, q.includeReplayed === true, q.limit],
      );
      return r.rows.map(storedDeadLetter);
    },

    async getDeadLetter(id: number): Promise<StoredDeadLetter | undefined> {
      const r = await db.query<DeadLetterRow>(
        `SELECT ${DEAD_LETTER_COLUMNS} FROM ingest_dead_letters WHERE id = $1`,
        [id],
      );
      return r.rows[0] && storedDeadLetter(r.rows[0]);
    },

    /** Marks a dead letter replayed (its payload was accepted again); false when it already was. */
    async markDeadLetterReplayed(id: number): Promise<boolean> {
      const r = await db.query(
        `UPDATE ingest_dead_letters SET replayed_at = now() WHERE id = $1 AND replayed_at IS NULL`,
        [id],
      );
      return r.rowCount === 1;
    },

    /** Retention: drops windows that ended before the cutoff. Returns the number of rows removed. */
    async deleteBefore(cutoff: Date): Promise<number> {
      const r = await db.query('DELETE FROM window_aggregates WHERE window_end < $1', [cutoff.toISOString()]);
      return r.rowCount ?? 0;
    },
  };
}

export type AggregatesRepo = ReturnType<typeof createAggregatesRepo>;

interface CheckpointRow {
  epoch: number;
  next_offset: number;
  watermark: Date | null;
  events: number;
  duplicates: number;
  too_late: number;
}

function claimedOf(row: CheckpointRow): ClaimedShard {
  return {
    epoch: row.epoch,
    nextOffset: row.next_offset,
    watermark: row.watermark ? row.watermark.getTime() : null,
    events: row.events,
    duplicates: row.duplicates,
    tooLate: row.too_late,
  };
}

interface DeadLetterRow {
  id: number;
  shard: string;
  offset: number;
  event_id: string | null;
  reason: string;
  reason_code: string;
  raw: Buffer;
  created_at: Date;
  replayed_at: Date | null;
}

// Rows from before migration 0700 have only the jsonb payload: its text is their raw form.
const DEAD_LETTER_COLUMNS = `id, shard, "offset", event_id, reason, reason_code,
  coalesce(raw, convert_to(coalesce(payload::text, 'null'), 'UTF8')) AS raw, created_at, replayed_at`;

function storedDeadLetter(row: DeadLetterRow): StoredDeadLetter {
  return {
    id: Number(row.id),
    shard: row.shard,
    offset: Number(row.offset),
    eventId: row.event_id,
    reason: row.reason,
    reasonCode: row.reason_code,
    raw: row.raw,
    createdAt: row.created_at,
    replayedAt: row.replayed_at,
  };
}

function keyOfRow(row: AggregateRow): WindowKey {
  return {
    target: row.target,
    segment: row.segment,
    arm: row.arm,
    start: row.window_start.getTime(),
    end: row.window_end.getTime(),
  };
}

/** The encoded state columns of a row (bigint columns already arrive as numbers, see pool.ts). */
function encodedOf(row: AggregateRow): EncodedState {
  return {
    count: row.count,
    ok: row.ok,
    errors: row.errors,
    latency_sum_us: row.latency_sum_us,
    latency_sketch: row.latency_sketch,
    ttft_sketch: row.ttft_sketch,
    input_tokens: row.input_tokens,
    output_tokens: row.output_tokens,
    cost_nusd: row.cost_nusd,
    cache_hits: row.cache_hits,
    quality_count: row.quality_count,
    quality_mean: row.quality_mean,
    quality_m2: row.quality_m2,
    feedback: row.feedback,
  };
}
