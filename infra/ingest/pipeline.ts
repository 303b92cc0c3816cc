/**
 * The embedded ingest pipeline: HTTP-accepted events go to the write-ahead log (durable before 202),
 * then one shard processor folds them into windows and commits aggregates with its WAL offset. On start
 * it replays the WAL from the committed offset, so a SIGKILL at any point loses and doubles nothing.
 */
import { join } from 'node:path';
import type { TelemetryEvent } from '../../domain/events';
import type { PriceBook } from '../../domain/pricing';
import { AppError } from '../../domain/errors';
import type { AggregatesRepo } from '../db/repos/aggregates';
import type { Logger } from '../logger';
import type { Dedup } from './dedup';
import { ShardProcessor, type IngestRecord, type ShardConfig } from './shard';
import { Wal } from './wal';

export interface AcceptedEvent {
  event: TelemetryEvent;
  ts: number;
}

/** Where the API hands validated events: durable once `accept` resolves. */
export interface IngestSink {
  readonly kind: 'wal' | 'kafka';
  accept(events: readonly AcceptedEvent[]): Promise<void>;
}

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
  /** Wraps each commit (a circuit breaker). */
  guard?: <T>(fn: () => Promise<T>) => Promise<T>;
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

  constructor(private readonly opts: EmbeddedPipelineOptions) {}

  get shardName(): string {
    return `wal:${this.opts.name}`;
  }

  async start(): Promise<void> {
    this.wal = await Wal.open(join(this.opts.dataDir, 'wal', this.opts.name), {
      segmentBytes: this.opts.walSegmentBytes,
    });
    this.shard = new ShardProcessor(this.shardName, this.opts.shard, {
      repo: this.opts.repo,
      dedup: this.opts.dedup,
      prices: this.opts.prices,
    });
    const from = await this.shard.open();
    // The database may be ahead of this directory's log (a new or wiped DATA_DIR): continue its offsets.
    await this.wal.rebase(from);
    this.committed = from;
    let replayed = 0;
    for await (const chunk of this.wal.read(this.wal.firstOffset)) {
      const records = chunk.map((r) => {
        const event = JSON.parse(r.payload.toString('utf8')) as TelemetryEvent;
        return { offset: r.offset, event, ts: Date.parse(event.timestamp) };
      });
      // Ids before the committed offset only rebuild an in-process dedup store; the rest are replayed.
      const seen = records.filter((r) => r.offset < from);
      if (seen.length > 0)
        this.opts.dedup.seed?.(
          this.shardName,
          seen.map((r) => ({ id: r.event.id, offset: r.offset })),
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
    this.running = true;
    this.lastFlush = Date.now();
    this.loop = this.run();
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

  async accept(events: readonly AcceptedEvent[]): Promise<void> {
    if (!this.running)
      throw new AppError('unavailable', 'ingest pipeline is not running', { retryAfterSeconds: 1 });
    if (this.buffered + events.length > this.opts.maxBufferedEvents) {
      throw new AppError(
        'unavailable',
        `ingest buffer is full (${this.buffered} events not yet aggregated); retry later`,
        {
          retryAfterSeconds: 1,
        },
      );
    }
    const payloads = events.map((e) => Buffer.from(JSON.stringify(e.event)));
    const first = this.wal.nextOffset;
    // Queued now, in offset order; processed only once the WAL says they are durable.
    for (let i = 0; i < events.length; i++)
      this.queue.push({ offset: first + i, event: events[i]!.event, ts: events[i]!.ts });
    await this.wal.append(payloads);
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

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake?.();
    await this.loop;
    await this.flush().catch((err: unknown) => this.opts.logger.error({ err }, 'final ingest flush failed'));
    await this.wal.close();
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
