/**
 * Drives one shard processor over the records of a write-ahead log: folds what arrives in offset order,
 * commits every flush interval (sooner after a burst) and says which offset is committed, so the log
 * can drop what precedes it. It runs on the API thread (embedded.ts) or in a worker thread
 * (shard-thread.ts); the log itself stays with the thread that appends to it.
 */
import type { Logger } from '../platform/logger';
import type { Dedup } from './core/dedup';
import type { IngestRecord, ShardProcessor } from './core/shard';

/** Records handed to the processor at a time: bounds the work between two looks at the clock. */
const CHUNK = 20_000;

export interface ShardLoopOptions {
  flushIntervalMs: number;
  logger: Logger;
  /** The dedup store: records already committed only rebuild an in-process one (`seed`). */
  dedup: Dedup;
  /** Wraps each commit (a circuit breaker). */
  guard?: <T>(fn: () => Promise<T>) => Promise<T>;
  /** After each successful commit: every offset before `offset` is counted in the database. */
  onCommitted(offset: number): Promise<void>;
  /** A commit or processing failed (it is retried); cleared by the next successful commit. */
  onError?(err: unknown): void;
}

export class ShardLoop {
  private queue: IngestRecord[] = [];
  private from = 0;
  private replayed = 0;
  private running = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private lastFlush = 0;
  /** Offsets before this one are in the database. */
  committed = 0;
  /** Offsets before this one were handed over (durable in the log). */
  received = 0;
  lastError: unknown;

  constructor(
    readonly shard: ShardProcessor,
    private readonly opts: ShardLoopOptions,
  ) {}

  /** Claims the shard; returns the offset it is committed up to (the log is replayed from there). */
  async open(): Promise<number> {
    this.from = await this.shard.open();
    this.committed = this.from;
    this.received = this.from;
    return this.from;
  }

  /** Records read back from the log at start, in offset order, from its first retained one. */
  async replay(records: readonly IngestRecord[]): Promise<void> {
    // Ids before the committed offset only rebuild an in-process dedup store; the rest are replayed.
    const seen = records.filter((r) => r.offset < this.from);
    if (seen.length > 0)
      this.opts.dedup.seed?.(
        this.shard.shard,
        seen.flatMap((r) => (r.event ? [{ id: r.event.id, offset: r.offset }] : [])),
      );
    const todo = records.filter((r) => r.offset >= this.from);
    if (todo.length > 0) {
      await this.shard.process(todo);
      this.replayed += todo.length;
    }
    if (records.length > 0) this.received = Math.max(this.received, records.at(-1)!.offset + 1);
  }

  /** After the replay: commits what it folded, then processes what is handed over from now on. */
  async start(): Promise<number> {
    const replayed = this.replayed;
    if (replayed > 0) await this.flush();
    this.running = true;
    this.lastFlush = Date.now();
    this.loop = this.run();
    return replayed;
  }

  /** Durable records, in offset order after those handed over before. */
  push(records: readonly IngestRecord[]): void {
    for (const r of records) this.queue.push(r);
    if (records.length > 0) this.received = records.at(-1)!.offset + 1;
    this.wake?.();
  }

  /** Commits soon rather than at the end of the interval (drain). */
  nudge(): void {
    this.wake?.();
  }

  /** Stops processing and commits what was handed over; says whether that final commit succeeded. */
  async stop(): Promise<boolean> {
    if (!this.loop) return false;
    this.running = false;
    this.wake?.();
    await this.loop;
    try {
      if (this.queue.length > 0) await this.shard.process(this.queue.splice(0));
      await this.flush();
      return true;
    } catch (err) {
      this.opts.logger.error({ err }, 'final ingest flush failed');
      return false;
    }
  }

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
      const ready = this.queue.splice(0, CHUNK);
      if (ready.length > 0) {
        try {
          await this.shard.process(ready);
        } catch (err) {
          // Dedup store unreachable: nothing of this chunk was applied; put it back and retry shortly.
          this.queue.unshift(...ready);
          this.failed(err, 'ingest processing failed; retrying');
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
      }
      const due = Date.now() - this.lastFlush >= this.opts.flushIntervalMs;
      if (due || (this.queue.length === 0 && this.committed < this.received && this.flushSoon())) {
        await this.flush().catch((err: unknown) => this.failed(err, 'ingest commit failed; retrying'));
      }
      if (this.queue.length === 0) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, Math.min(this.opts.flushIntervalMs, 100)).unref();
        });
        this.wake = undefined;
      }
    }
  }

  private failed(err: unknown, message: string): void {
    this.lastError = err;
    this.opts.onError?.(err);
    this.opts.logger.error({ err }, message);
  }

  /** After a burst, commit promptly rather than a whole interval later, but not more than every 50 ms. */
  private flushSoon(): boolean {
    return Date.now() - this.lastFlush >= Math.min(50, this.opts.flushIntervalMs);
  }

  private async flush(): Promise<void> {
    this.lastFlush = Date.now();
    const commit = () => this.shard.flush();
    const { committed } = this.opts.guard ? await this.opts.guard(commit) : await commit();
    this.committed = committed;
    this.lastError = undefined;
    await this.opts.onCommitted(committed);
  }
}
