/**
 * The embedded pipeline with its shard in a worker thread (INGEST_SHARD_THREAD=true): the API thread
 * validates, appends to the write-ahead log (durable before 202) and posts the durable records on; the
 * worker (shard-thread.ts) decodes, folds and commits them and reports each commit back, after which
 * the log drops what it no longer needs. The guarantees are those of the in-thread pipeline, as the
 * shard and the log are the same: a restart claims the shard and replays the log from the committed
 * offset (the API thread reads it, the worker folds it), poison events go to the dead letters there,
 * the directory's lock stays with this thread. What the worker counts (dead letters), its breaker and
 * its commit errors come back as messages, so metrics and /readyz stay this thread's.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { PROJECT_ROOT } from '../platform/paths';
import type { Redis } from 'ioredis';
import type { Env } from '../platform/env';
import type { ReadinessCheck } from '../platform/process';
import type { AcceptedEvent } from './core/types';
import type { DeadLetter } from './core/ports';
import type { WalBatch } from './adapters/wal';
import type { StoredRecord } from './decoders/wal-batch';
import { WalPipeline, type EmbeddedPipelineOptions, type IngestPipeline } from './embedded';
import type { CommittedNotice, ShardThreadData } from './shard-thread';
import { connectPeer, type ThreadPeer } from './thread-rpc';
import type { WindowKey } from './core/windowing/aggregate-state';

export interface ThreadedPipelineOptions extends EmbeddedPipelineOptions {
  env: Env;
  redis?: Redis;
}

/** ioredis keeps how it connected; the worker opens its own connection the same way. */
function redisUrlOf(redis: Redis): string {
  const o = redis.options;
  const auth = o.password ? `${encodeURIComponent(o.username ?? '')}:${encodeURIComponent(o.password)}@` : '';
  return `${o.tls ? 'rediss' : 'redis'}://${auth}${o.host ?? '127.0.0.1'}:${o.port ?? 6379}/${o.db ?? 0}`;
}

/**
 * The worker's module: the TypeScript source through tsx when running from source, else its bundle in
 * dist/ (infra/build.ts builds pipeline/shard-thread.ts beside the process entry points).
 */
function spawnShardThread(data: ShardThreadData): Worker {
  const self = import.meta.url;
  const workerData = { shardThread: data };
  if (!self.endsWith('.ts'))
    return new Worker(join(PROJECT_ROOT, 'dist', 'pipeline', 'shard-thread.mjs'), { workerData });
  const entry = new URL('./shard-thread.ts', self).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

/**
 * A payload as posted: moved when it owns its memory whole (a batch's encoded body), else copied, since
 * posting a view would copy the whole buffer it views (a read segment, the allocation pool).
 */
function posted(b: Buffer, transfer: ArrayBuffer[]): Uint8Array {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer) {
    transfer.push(b.buffer);
    return b;
  }
  return new Uint8Array(b);
}

function postedRecords(records: readonly StoredRecord[], transfer: ArrayBuffer[]) {
  return records.map((r) => ({ offset: r.offset, count: r.count, payload: posted(r.payload, transfer) }));
}

export class ThreadedPipeline extends WalPipeline implements IngestPipeline {
  private worker: Worker | undefined;
  private peer!: ThreadPeer;
  private shardStats: Record<string, number | null> = {};
  private held = 0;
  private breakerOpen = false;

  constructor(private readonly threadOpts: ThreadedPipelineOptions) {
    super(threadOpts);
  }

  protected async openShard(): Promise<void> {
    const { env, redis } = this.threadOpts;
    const worker = spawnShardThread({
      env,
      shardName: this.shardName,
      logLevel: this.opts.logger.level,
      ...(redis ? { redisUrl: redisUrlOf(redis) } : {}),
      publishes: this.opts.shared?.aggregates !== undefined,
    });
    this.worker = worker;
    let ready!: () => void;
    const started = new Promise<void>((r) => (ready = r));
    this.peer = connectPeer(worker, {
      ready: () => ready(),
      committed: (n: CommittedNotice) => {
        this.shardStats = n.stats;
        this.held = n.waiting;
        return this.markCommitted(n.offset);
      },
      error: (message: string) => (this.lastError = new Error(message)),
      deadLetters: (letters: DeadLetter[]) => this.opts.onDeadLetters?.(letters),
      breaker: (open: boolean) => (this.breakerOpen = open),
      invalidate: async (m: { shard: string; windows: WindowKey[]; finalized: WindowKey[] }) => {
        await this.opts.shared?.aggregates
          ?.committed(m.shard, m.windows, m.finalized)
          .catch((err: unknown) => this.opts.shared?.onHotError?.(err));
      },
    });
    const ended = new Promise<never>((_, reject) => {
      const fail = (err: Error) => {
        // Nothing more is committed: refuse new events (the log keeps the accepted ones for a restart).
        this.running = false;
        this.lastError = err;
        this.peer.fail(err);
        this.opts.logger.error({ err }, 'ingest shard thread ended');
        reject(err);
      };
      worker.once('error', fail);
      worker.once('exit', (code) => fail(new Error(`ingest shard thread exited (code ${code})`)));
    });
    ended.catch(() => undefined);
    await Promise.race([started, ended]);
    await this.rebase(await this.peer.call<number>('open'));
    for await (const chunk of this.wal.read(this.wal.firstOffset)) {
      const transfer: ArrayBuffer[] = [];
      await this.peer.call('replay', postedRecords(chunk, transfer));
    }
    const { replayed, waiting } = await this.peer.call<{ replayed: number; waiting: number }>('start');
    this.held = waiting;
    if (replayed > 0)
      this.opts.logger.info({ replayed, shard: this.shardName }, 'replayed the write-ahead log');
  }

  protected handOff(first: number, _events: readonly AcceptedEvent[], payloads: (Buffer | WalBatch)[]): void {
    const records: StoredRecord[] = [];
    let offset = first;
    for (const p of payloads) {
      const r = Buffer.isBuffer(p) ? { offset, count: 1, payload: p } : { offset, ...p };
      records.push(r);
      offset += r.count;
    }
    const transfer: ArrayBuffer[] = [];
    this.peer.notify('records', postedRecords(records, transfer), transfer);
  }

  protected async closeShard(): Promise<boolean> {
    const worker = this.worker;
    if (!worker) return true;
    worker.removeAllListeners('exit');
    worker.removeAllListeners('error');
    const flushed = await this.peer.call<boolean>('stop').catch((err: unknown) => {
      this.opts.logger.error({ err }, 'ingest shard thread did not stop cleanly');
      return false;
    });
    await worker.terminate();
    return flushed;
  }

  protected nudge(): void {
    this.peer.notify('nudge');
  }

  get stats() {
    return { ...this.shardStats, buffered: this.buffered, durable: this.durable, committed: this.committed };
  }

  get waiting(): number {
    return this.held;
  }

  settleWaiting(): Promise<number> {
    return this.peer.call<number>('settle');
  }

  refreshPrices(): Promise<void> {
    return this.peer.call('refreshPrices');
  }

  /** The commit breaker in the worker, as /readyz sees it. */
  breakerCheck(name: string): ReadinessCheck {
    return {
      name,
      check: async () => {
        if (this.breakerOpen) throw new Error('circuit open after repeated failures');
      },
    };
  }
}
