/**
 * The embedded ingest pipeline: HTTP-accepted events go to the write-ahead log (durable before 202),
 * then one shard processor folds them into windows and commits aggregates with its WAL offset. On start
 * it replays the WAL from the committed offset, so a SIGKILL at any point loses and doubles nothing.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { checkEvent, type TelemetryEvent } from '../domain/events';
import type { PriceBook } from '../domain/pricing';
import { AppError } from '../domain/errors';
import type { AggregatesRepo } from './adapters/store';
import type { Logger } from '../platform/logger';
import type { Dedup } from './core/dedup';
import { splitBatch, type BatchFormat } from './front';
import { ShardProcessor, type IngestRecord, type ShardConfig, type ShardDeps } from './core/shard';
import { Wal, WalUnavailableError, type WalFs, type WalRecord } from './adapters/wal';
import { lockShardDir, type ShardLock } from './adapters/shard-lock';

export interface AcceptedEvent {
  event: TelemetryEvent;
  ts: number;
}

/**
 * The decoded request body the accepted events were split from, with the index of each (in order): a
 * sink may store these bytes once rather than serialize every event again.
 */
export interface RawBatch {
  bytes: Buffer;
  format: BatchFormat;
  indexes: readonly number[];
}

/** Where the API hands validated events: durable once `accept` resolves. */
export interface IngestSink {
  readonly kind: 'wal' | 'kafka';
  accept(events: readonly AcceptedEvent[], raw?: RawBatch): Promise<void>;
}

/**
 * A WAL batch payload: [u8 format][u32 n][n × u32 index][body]. The first byte tells it from a
 * single-event record, which is a JSON object and so starts with "{".
 */
const FORMAT_BYTE: Record<BatchFormat, number> = { json: 1, ndjson: 2 };

export function encodeRawBatch(raw: RawBatch): Buffer {
  const n = raw.indexes.length;
  const head = Buffer.allocUnsafe(5 + 4 * n);
  head.writeUInt8(FORMAT_BYTE[raw.format], 0);
  head.writeUInt32LE(n, 1);
  for (let i = 0; i < n; i++) head.writeUInt32LE(raw.indexes[i]!, 5 + 4 * i);
  return Buffer.concat([head, raw.bytes]);
}

/** An offset of a WAL record: its event, or why it is no event (and what it held). */
export type WalEntry = { event: TelemetryEvent; ts: number } | { error: string; payload: unknown };

/**
 * The events of one WAL record, one per offset it takes. A batch's events are validated again exactly
 * as they were accepted (the future bound aside: they were in bounds then); one that no longer passes
 * (a stricter schema after an upgrade) comes back as its reason with what it held, and the pipeline
 * passes its offset as a dead letter. A single-event record holds an event serialized after validation.
 */
export function decodeWalRecord(r: WalRecord): WalEntry[] {
  const kind = r.payload[0];
  if (kind === 0x7b && r.count === 1) {
    let event: TelemetryEvent;
    try {
      event = JSON.parse(r.payload.toString('utf8')) as TelemetryEvent;
    } catch (err) {
      return [{ error: `invalid_json: ${(err as Error).message}`, payload: null }];
    }
    return [{ event, ts: Date.parse(event.timestamp) }];
  }
  const format = kind === FORMAT_BYTE.json ? 'json' : kind === FORMAT_BYTE.ndjson ? 'ndjson' : undefined;
  const n = r.payload.length >= 5 ? r.payload.readUInt32LE(1) : -1;
  if (format === undefined || n !== r.count || r.payload.length < 5 + 4 * n)
    throw new Error(`write-ahead log record at offset ${r.offset} is not a batch of ${r.count} events`);
  const text = r.payload.subarray(5 + 4 * n).toString('utf8');
  const { items } = splitBatch(text, format === 'json' ? 'application/json' : 'application/x-ndjson');
  const out: WalEntry[] = [];
  for (let i = 0; i < n; i++) {
    const item = items[r.payload.readUInt32LE(5 + 4 * i)];
    const c = checkEvent(item, Number.POSITIVE_INFINITY);
    out.push(
      c.ok
        ? { event: c.event, ts: c.ts }
        : { error: c.issues.map((x) => `${x.path}: ${x.message}`).join('; '), payload: item ?? null },
    );
  }
  return out;
}

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
  /** The WAL's file system (node:fs unless a test injects faults). */
  walFs?: WalFs;
}

export class EmbeddedPipeline implements IngestSink {
  readonly kind = 'wal' as const;
  private wal!: Wal;
  private shard!: ShardProcessor;
  private queue: IngestRecord[] = [];
  private durable = 0;
  private committed = 0;
  private running = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private lastFlush = 0;
  private lastError: unknown;
  private lock: ShardLock | undefined;
  private stopped = false;

  constructor(private readonly opts: EmbeddedPipelineOptions) {}

  get shardName(): string {
    return `wal:${this.opts.name}`;
  }

  private get dir(): string {
    return join(this.opts.dataDir, 'wal', this.opts.name);
  }

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
      await this.replay(dir);
    } catch (err) {
      await this.wal?.close().catch(() => undefined);
      await this.lock.release();
      throw err;
    }
    this.running = true;
    this.lastFlush = Date.now();
    this.loop = this.run();
  }

  /** Opens the log and folds in what the database has not counted yet. */
  private async replay(dir: string): Promise<void> {
    this.wal = await Wal.open(dir, {
      segmentBytes: this.opts.walSegmentBytes,
      retainMs: this.opts.dedup.logRetentionMs ?? 0,
      ...(this.opts.walFs ? { fs: this.opts.walFs } : {}),
    });
    this.shard = new ShardProcessor(this.shardName, this.opts.shard, {
      repo: this.opts.repo,
      dedup: this.opts.dedup,
      prices: this.opts.prices,
      ...this.opts.shared,
      ...(this.opts.onDeadLetters ? { onDeadLetters: this.opts.onDeadLetters } : {}),
    });
    const from = await this.shard.open();
    // The database may be ahead of this directory's log (a new or wiped DATA_DIR): continue its offsets.
    await this.wal.rebase(from);
    this.committed = from;
    let replayed = 0;
    for await (const chunk of this.wal.read(this.wal.firstOffset)) {
      const records: IngestRecord[] = [];
      for (const r of chunk) {
        decodeWalRecord(r).forEach((d, i) => {
          if ('event' in d) records.push({ offset: r.offset + i, ...d });
          else {
            this.opts.logger.error(
              { offset: r.offset + i, reason: d.error },
              'WAL event no longer valid; passed to the dead letters',
            );
            const id = (d.payload as { id?: unknown } | null)?.id;
            records.push({
              offset: r.offset + i,
              event: null,
              ts: 0,
              deadLetter: {
                eventId: typeof id === 'string' ? id : null,
                reason: d.error.startsWith('invalid_json:') ? d.error : `invalid_event: ${d.error}`,
                payload: d.payload,
              },
            });
          }
        });
      }
      // Ids before the committed offset only rebuild an in-process dedup store; the rest are replayed.
      const seen = records.filter((r) => r.offset < from);
      if (seen.length > 0)
        this.opts.dedup.seed?.(
          this.shardName,
          seen.flatMap((r) => (r.event ? [{ id: r.event.id, offset: r.offset }] : [])),
        );
      const todo = records.filter((r) => r.offset >= from);
      if (todo.length > 0) {
        await this.shard.process(todo);
        replayed += todo.length;
      }
    }
    this.durable = this.wal.nextOffset;
    if (replayed > 0) {
      await this.flush();
      this.opts.logger.info({ replayed, shard: this.shardName }, 'replayed the write-ahead log');
    }
  }

  /** Accepted minus committed: what a crash would make the pipeline replay. */
  get buffered(): number {
    return this.wal.nextOffset - this.committed;
  }

  get stats() {
    return { ...this.shard.stats, buffered: this.buffered, durable: this.durable, committed: this.committed };
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
        {
          retryAfterSeconds: 1,
        },
      );
    }
    // The request body as received (one copy, one checksum) beats serializing every event again.
    const payloads =
      raw && raw.indexes.length === events.length
        ? [{ payload: encodeRawBatch(raw), count: events.length }]
        : events.map((e) => Buffer.from(JSON.stringify(e.event)));
    const first = this.wal.nextOffset;
    // Queued now, in offset order; processed only once the WAL says they are durable.
    const queued = events.map((e, i): IngestRecord => ({ offset: first + i, event: e.event, ts: e.ts }));
    for (const r of queued) this.queue.push(r);
    try {
      await this.wal.append(payloads);
    } catch (err) {
      // Refused, so the client retries it: none of it may be counted, and its offsets go to later batches.
      const refused = new Set(queued);
      this.queue = this.queue.filter((r) => !refused.has(r));
      if (!(err instanceof WalUnavailableError)) throw err;
      this.opts.logger.error({ err }, 'write-ahead log refused a batch');
      throw new AppError(
        'unavailable',
        'the write-ahead log could not store this batch; nothing of it was kept, retry',
        { retryAfterSeconds: 1 },
      );
    }
    this.durable = Math.max(this.durable, first + events.length);
    this.wake?.();
  }

  /** Waits until everything accepted so far is committed to the database (tests, shutdown). */
  async drain(timeoutMs = 30_000): Promise<void> {
    const target = this.wal.nextOffset;
    const deadline = Date.now() + timeoutMs;
    while (this.committed < target) {
      if (Date.now() > deadline)
        throw new Error(`ingest pipeline did not commit offset ${target} in ${timeoutMs} ms`);
      this.wake?.();
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /**
   * Stops accepting, commits what was accepted and releases the directory. `removeIfDrained` (a retired
   * shard being adopted): when everything is committed and no feedback is held, the directory goes too,
   * before its lock is released; the database's checkpoint is all a later owner needs (start rebases).
   */
  async stop(opts: { removeIfDrained?: boolean } = {}): Promise<boolean> {
    if (!this.loop || this.stopped) return false;
    this.stopped = true;
    this.running = false;
    this.wake?.();
    await this.loop;
    let flushed = true;
    await this.flush().catch((err: unknown) => {
      flushed = false;
      this.opts.logger.error({ err }, 'final ingest flush failed');
    });
    await this.wal.close();
    const remove =
      opts.removeIfDrained === true &&
      flushed &&
      this.committed >= this.wal.nextOffset &&
      this.shard.waiting === 0;
    if (remove) await rm(this.dir, { recursive: true, force: true });
    await this.lock?.release();
    return remove;
  }

  /** Held feedback, waiting for its request. */
  get waiting(): number {
    return this.shard.waiting;
  }

  /** Ends every wait of held feedback and commits (see ShardProcessor.settleWaiting). */
  async settleWaiting(): Promise<number> {
    const settled = await this.shard.settleWaiting();
    if (settled > 0) await this.flush();
    return settled;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const ready = this.takeDurable();
      if (ready.length > 0) {
        try {
          await this.shard.process(ready);
        } catch (err) {
          // Dedup store unreachable: nothing of this chunk was applied; put it back and retry shortly.
          this.queue.unshift(...ready);
          this.lastError = err;
          this.opts.logger.error({ err }, 'ingest processing failed; retrying');
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
      }
      const due = Date.now() - this.lastFlush >= this.opts.flushIntervalMs;
      if (due || (this.queue.length === 0 && this.committed < this.durable && this.flushSoon())) {
        await this.flush().catch((err: unknown) => {
          this.lastError = err;
          this.opts.logger.error({ err }, 'ingest commit failed; retrying');
        });
      }
      if (this.queue.length === 0 || this.queue[0]!.offset >= this.durable) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, Math.min(this.opts.flushIntervalMs, 100)).unref();
        });
        this.wake = undefined;
      }
    }
  }

  /** After a burst, commit promptly rather than a whole interval later, but not more than every 50 ms. */
  private flushSoon(): boolean {
    return Date.now() - this.lastFlush >= Math.min(50, this.opts.flushIntervalMs);
  }

  private takeDurable(): IngestRecord[] {
    let n = 0;
    while (n < this.queue.length && n < 20_000 && this.queue[n]!.offset < this.durable) n++;
    if (n === 0) return [];
    return this.queue.splice(0, n);
  }

  private async flush(): Promise<void> {
    this.lastFlush = Date.now();
    const commit = () => this.shard.flush();
    const { committed } = this.opts.guard ? await this.opts.guard(commit) : await commit();
    this.committed = committed;
    this.lastError = undefined;
    await this.wal.truncateBefore(committed);
  }
}
