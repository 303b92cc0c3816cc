/**
 * The embedded ingest pipeline: HTTP-accepted events go to the write-ahead log (durable before 202),
 * then one shard processor folds them into windows and commits aggregates with its WAL offset. On start
 * it replays the WAL from the committed offset, so a SIGKILL at any point loses and doubles nothing.
 *
 * WalPipeline holds what does not depend on where the shard runs: the directory's lock, the log, the
 * backpressure and the shutdown. EmbeddedPipeline runs the shard on the calling thread; the worker
 * thread variant is threaded.ts.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { PriceBook } from '../domain/pricing';
import { AppError } from '../domain/errors';
import type { AggregatesRepo } from './adapters/store';
import type { Logger } from '../platform/logger';
import type { Dedup } from './core/dedup';
import type { AcceptedEvent, IngestSink, RawBatch } from './core/types';
import { ShardProcessor, type IngestRecord, type ShardConfig, type ShardDeps } from './core/shard';
import { Wal, WalUnavailableError, type WalBatch, type WalFs } from './adapters/wal';
import { lockShardDir, type ShardLock } from './adapters/shard-lock';
import { encodeRawBatch, toIngestRecords } from './decoders/wal-batch';
import { ShardLoop } from './shard-loop';

export type { AcceptedEvent, IngestSink, RawBatch } from './core/types';

/** How long a start waits for the WAL lock of a crashed holder to go stale (shard-lock.ts). */
const LOCK_WAIT_MS = 15_000;

export interface EmbeddedPipelineOptions {
  dataDir: string;
  /** Distinguishes the shard (and WAL directory) when several pipelines share a database (tests). */
  name: string;
  repo: AggregatesRepo;
  dedup: Dedup;
  prices: () => PriceBook;
  shard: ShardConfig;
  flushIntervalMs: number;
  /** Accepted but not yet committed events beyond which `accept` answers 503 (backpressure). */
  maxBufferedEvents: number;
  walSegmentBytes: number;
  logger: Logger;
  /** Join index, hot windows and cache invalidation shared with other processes (common.ts). */
  shared?: Pick<ShardDeps, 'joins' | 'aggregates' | 'onHotError'>;
  /** Wraps each commit (a circuit breaker). */
  guard?: <T>(fn: () => Promise<T>) => Promise<T>;
  /** The dead letters each commit stored (metrics). */
  onDeadLetters?: ShardDeps['onDeadLetters'];
  /** The shard's claims and commits (metrics); not carried into a shard thread. */
  observer?: ShardDeps['observer'];
  /** The WAL's file system (node:fs unless a test injects faults). */
  walFs?: WalFs;
}

/** What the API, the adoption of retired shards and the tests use of a pipeline, wherever its shard runs. */
export interface IngestPipeline extends IngestSink {
  readonly kind: 'wal';
  readonly shardName: string;
  readonly buffered: number;
  readonly waiting: number;
  readonly stats: { committed: number; durable: number; buffered: number } & Record<string, number | null>;
  start(lockWaitMs?: number): Promise<void>;
  health(): void;
  drain(timeoutMs?: number): Promise<void>;
  stop(opts?: { removeIfDrained?: boolean }): Promise<boolean>;
  settleWaiting(): Promise<number>;
}

/** The log's payloads for accepted events: the request body once when it is given, else each event. */
function walPayloads(events: readonly AcceptedEvent[], raw?: RawBatch): (Buffer | WalBatch)[] {
  // The request body as received (one copy, one checksum) beats serializing every event again.
  return raw && raw.indexes.length === events.length
    ? [{ payload: encodeRawBatch(raw), count: events.length }]
    : events.map((e) => Buffer.from(JSON.stringify(e.event)));
}

/**
 * The log side of a pipeline: a locked directory, appends acknowledged once durable, backpressure on
 * what is appended but not committed, and a stop that commits what it can before releasing the lock.
 * Subclasses say where the shard runs: `openShard` (claim, replay), `handOff`, `closeShard`.
 */
export abstract class WalPipeline implements IngestPipeline {
  readonly kind = 'wal' as const;
  protected wal!: Wal;
  protected committed = 0;
  protected durable = 0;
  protected running = false;
  protected lastError: unknown;
  private lock: ShardLock | undefined;
  private started = false;
  private stopped = false;
  private truncating: Promise<unknown> = Promise.resolve();

  constructor(protected readonly opts: EmbeddedPipelineOptions) {}

  get shardName(): string {
    return `wal:${this.opts.name}`;
  }

  protected get dir(): string {
    return join(this.opts.dataDir, 'wal', this.opts.name);
  }

  /** Claims the shard, rebases the log on its checkpoint and replays the log's tail into it. */
  protected abstract openShard(): Promise<void>;
  /** Hands records just made durable (from offset `first`) to the shard. */
  protected abstract handOff(
    first: number,
    events: readonly AcceptedEvent[],
    payloads: (Buffer | WalBatch)[],
  ): void;
  /** Stops the shard after a final commit; says whether it succeeded. */
  protected abstract closeShard(): Promise<boolean>;
  /** Commit promptly (drain). */
  protected abstract nudge(): void;
  abstract get waiting(): number;
  abstract get stats(): IngestPipeline['stats'];
  abstract settleWaiting(): Promise<number>;

  /**
   * Locks the shard's WAL directory (waiting up to `lockWaitMs` for a crashed holder's lock to go
   * stale), replays what the database has not yet counted, and starts accepting.
   */
  async start(lockWaitMs = LOCK_WAIT_MS): Promise<void> {
    const dir = this.dir;
    this.lock = await lockShardDir(dir, {
      waitMs: lockWaitMs,
      onLost: (err) => {
        // Another process took the directory: accepting more here could hand out its offsets.
        this.running = false;
        this.lastError = new Error(`lost the lock of ${dir}: ${err.message}`);
        this.opts.logger.error({ err, dir }, 'write-ahead log lock lost; this pipeline stops accepting');
      },
    });
    try {
      this.wal = await Wal.open(dir, {
        segmentBytes: this.opts.walSegmentBytes,
        retainMs: this.opts.dedup.logRetentionMs ?? 0,
        ...(this.opts.walFs ? { fs: this.opts.walFs } : {}),
      });
      await this.openShard();
    } catch (err) {
      await this.wal?.close().catch(() => undefined);
      await this.closeShard().catch(() => false);
      await this.lock.release();
      throw err;
    }
    this.durable = this.wal.nextOffset;
    this.started = true;
    this.running = true;
  }

  /** The database's checkpoint: the log continues from it (a new or wiped DATA_DIR). */
  protected async rebase(from: number): Promise<void> {
    await this.wal.rebase(from);
    this.committed = from;
  }

  /** After a commit: what precedes `offset` is counted, so the log may drop it. */
  protected markCommitted(offset: number): Promise<void> {
    this.committed = Math.max(this.committed, offset);
    this.lastError = undefined;
    const cut = this.truncating.then(() => this.wal.truncateBefore(offset));
    this.truncating = cut.catch((err: unknown) =>
      this.opts.logger.warn({ err }, 'committed write-ahead log segments not removed; retried later'),
    );
    return this.truncating.then(() => undefined);
  }

  /** Accepted minus committed: what a crash would make the pipeline replay. */
  get buffered(): number {
    return this.wal.nextOffset - this.committed;
  }

  /** Healthy unless the last commit failed (the database is unreachable, the breaker is open...). */
  health(): void {
    if (this.lastError instanceof Error) throw this.lastError;
    if (this.lastError !== undefined) throw new Error('the last ingest commit failed');
  }

  async accept(events: readonly AcceptedEvent[], raw?: RawBatch): Promise<void> {
    if (!this.running)
      throw new AppError('unavailable', 'ingest pipeline is not running', { retryAfterSeconds: 1 });
    if (events.length > this.opts.maxBufferedEvents) {
      // It can never fit, however long the caller waits: 413, not 503.
      throw new AppError(
        'payload_too_large',
        `batch of ${events.length} valid events exceeds the ingest buffer of ${this.opts.maxBufferedEvents} events (INGEST_MAX_BUFFERED_EVENTS); split it`,
      );
    }
    if (this.buffered + events.length > this.opts.maxBufferedEvents) {
      throw new AppError(
        'unavailable',
        `ingest buffer is full (${this.buffered} events not yet aggregated); retry later`,
        { retryAfterSeconds: 1 },
      );
    }
    const payloads = walPayloads(events, raw);
    let first: number;
    try {
      first = await this.wal.append(payloads);
    } catch (err) {
      // Refused, so the client retries it: none of it is handed on, and its offsets go to later batches.
      if (!(err instanceof WalUnavailableError)) throw err;
      this.opts.logger.error({ err }, 'write-ahead log refused a batch');
      throw new AppError(
        'unavailable',
        'the write-ahead log could not store this batch; nothing of it was kept, retry',
        { retryAfterSeconds: 1 },
      );
    }
    // Appends resolve in offset order, so hand-offs keep it.
    this.durable = Math.max(this.durable, first + events.length);
    this.handOff(first, events, payloads);
  }

  /** Waits until everything accepted so far is committed to the database (tests, shutdown). */
  async drain(timeoutMs = 30_000): Promise<void> {
    const target = this.wal.nextOffset;
    const deadline = Date.now() + timeoutMs;
    while (this.committed < target) {
      if (Date.now() > deadline)
        throw new Error(`ingest pipeline did not commit offset ${target} in ${timeoutMs} ms`);
      this.nudge();
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /**
   * Stops accepting, commits what was accepted and releases the directory. `removeIfDrained` (a retired
   * shard being adopted): when everything is committed and no feedback is held, the directory goes too,
   * before its lock is released; the database's checkpoint is all a later owner needs (start rebases).
   */
  async stop(opts: { removeIfDrained?: boolean } = {}): Promise<boolean> {
    if (!this.started || this.stopped) return false;
    this.stopped = true;
    this.running = false;
    const waiting = this.waiting;
    const flushed = await this.closeShard();
    await this.truncating;
    await this.wal.close();
    const remove =
      opts.removeIfDrained === true && flushed && this.committed >= this.wal.nextOffset && waiting === 0;
    if (remove) await rm(this.dir, { recursive: true, force: true });
    await this.lock?.release();
    return remove;
  }
}

/** The shard on the calling thread: accepted events go to it as validated, with no second parse. */
export class EmbeddedPipeline extends WalPipeline {
  private loop!: ShardLoop;

  protected async openShard(): Promise<void> {
    const processor = new ShardProcessor(this.shardName, this.opts.shard, {
      repo: this.opts.repo,
      dedup: this.opts.dedup,
      prices: this.opts.prices,
      ...this.opts.shared,
      ...(this.opts.onDeadLetters ? { onDeadLetters: this.opts.onDeadLetters } : {}),
      ...(this.opts.observer ? { observer: this.opts.observer } : {}),
    });
    this.loop = new ShardLoop(processor, {
      flushIntervalMs: this.opts.flushIntervalMs,
      logger: this.opts.logger,
      dedup: this.opts.dedup,
      ...(this.opts.guard ? { guard: this.opts.guard } : {}),
      onCommitted: (offset) => this.markCommitted(offset),
      onError: (err) => (this.lastError = err),
    });
    await this.rebase(await this.loop.open());
    for await (const chunk of this.wal.read(this.wal.firstOffset))
      await this.loop.replay(
        toIngestRecords(chunk, (offset, reason) =>
          this.opts.logger.error({ offset, reason }, 'WAL event no longer valid; passed to the dead letters'),
        ),
      );
    const replayed = await this.loop.start();
    if (replayed > 0)
      this.opts.logger.info({ replayed, shard: this.shardName }, 'replayed the write-ahead log');
  }

  protected handOff(first: number, events: readonly AcceptedEvent[]): void {
    this.loop.push(events.map((e, i): IngestRecord => ({ offset: first + i, event: e.event, ts: e.ts })));
  }

  protected async closeShard(): Promise<boolean> {
    return this.loop ? this.loop.stop() : true;
  }

  protected nudge(): void {
    this.loop.nudge();
  }

  get stats() {
    return {
      ...this.loop.shard.stats,
      buffered: this.buffered,
      durable: this.durable,
      committed: this.committed,
    };
  }

  /** Held feedback, waiting for its request. */
  get waiting(): number {
    return this.loop.waiting;
  }

  async settleWaiting(): Promise<number> {
    return this.loop.settleWaiting();
  }
}
