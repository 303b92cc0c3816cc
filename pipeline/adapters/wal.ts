/**
 * The write-ahead log of embedded mode: accepted events are appended and fdatasync'd before the API
 * answers 202, so a SIGKILL loses nothing acknowledged. Concurrent appends share one write and one
 * fdatasync (group commit). A record is [u32 length][u32 crc32][payload] and takes one offset, or, with
 * the length's top bit set, [u32 length|BATCH][u32 crc32][u32 count][payload] and takes `count`
 * consecutive offsets (a whole request body written once instead of one record per event; the crc
 * covers the count too). A torn tail left by a crash fails its checksum and is cut off on open. Segment
 * files are named by their first offset and removed once the pipeline has committed past them (and,
 * with `retainMs`, once they are that old).
 *
 * A failed write or fdatasync refuses its appends and every one queued behind it (their offsets assumed
 * it succeeded) with a WalUnavailableError, hands their offsets out again, and repairs the tail: the
 * segment is cut back to the end of the last acknowledged record and synced. Appends wait for that
 * repair and are refused if it fails (the next append tries again), so nothing is ever written after
 * torn bytes, and a reopen finds exactly the acknowledged records.
 */
import { mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

const HEADER = 8;
/** Set in the length word of a record that spans several offsets; single records never reach 2 GiB. */
const BATCH = 0x80000000;
const NAME = /^(\d{20})\.wal$/;
const segmentName = (first: number) => `${String(first).padStart(20, '0')}.wal`;

export interface WalRecord {
  /** The first offset the record takes. */
  offset: number;
  /** How many offsets it takes (1 for a plain record). */
  count: number;
  payload: Buffer;
}

/** A payload that takes `count` consecutive offsets (its reader knows how to split it). */
export interface WalBatch {
  payload: Buffer;
  count: number;
}

/** The part of an open file the log uses (node's FileHandle is one). */
export interface WalFile {
  writev(buffers: readonly Buffer[]): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
  truncate(len: number): Promise<void>;
  close(): Promise<void>;
}

/** The file-system calls the log makes: node:fs/promises, or a wrapper that injects faults (tests). */
export interface WalFs {
  mkdir(path: string, opts: { recursive: true }): Promise<unknown>;
  readdir(path: string): Promise<string[]>;
  readFile(path: string): Promise<Buffer>;
  open(path: string, flags: 'a' | 'r' | 'r+'): Promise<WalFile>;
  stat(path: string): Promise<{ mtimeMs: number }>;
  rm(path: string, opts: { force: true }): Promise<void>;
}

export const nodeWalFs: WalFs = {
  mkdir: (path, opts) => mkdir(path, opts),
  readdir: (path) => readdir(path),
  readFile: (path) => readFile(path),
  open: (path, flags) => open(path, flags),
  stat: (path) => stat(path),
  rm: (path, opts) => rm(path, opts),
};

/**
 * The log refused an append because it could not make it durable (disk full, I/O error), or because
 * its tail is not repaired yet. Nothing of the append is kept; the same append can be retried shortly.
 */
export class WalUnavailableError extends Error {
  override name = 'WalUnavailableError';
  readonly retryable = true;
}

interface Pending {
  buffers: Buffer[];
  offsets: number;
  resolve(): void;
  reject(err: unknown): void;
}

export interface WalOptions {
  /** Start a new segment file once the current one is this large. */
  segmentBytes: number;
  /**
   * Keep a committed segment until its last append is this old: an in-process dedup store rebuilds
   * itself from the retained log after a restart (dedup.ts). 0 or unset: removed once committed.
   */
  retainMs?: number;
  /** node:fs unless a test injects faults. */
  fs?: WalFs;
}

function frame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(crc32(payload), 4);
  payload.copy(out, HEADER);
  return out;
}

/** A batch record's header; the payload itself is written as is (no copy of a large body). */
function batchHeader(b: WalBatch): Buffer {
  const head = Buffer.allocUnsafe(HEADER + 4);
  head.writeUInt32LE(b.count, HEADER);
  head.writeUInt32LE((b.payload.length | BATCH) >>> 0, 0);
  head.writeUInt32LE(crc32(b.payload, crc32(head.subarray(HEADER))), 4);
  return head;
}

/** Parses a segment's records; stops at the first torn or corrupt one and says where good data ends. */
function parseSegment(buf: Buffer, first: number): { records: WalRecord[]; goodBytes: number } {
  const records: WalRecord[] = [];
  let pos = 0;
  let offset = first;
  while (pos + HEADER <= buf.length) {
    const word = buf.readUInt32LE(pos);
    const sum = buf.readUInt32LE(pos + 4);
    const batch = (word & BATCH) !== 0;
    const len = batch ? (word & ~BATCH) >>> 0 : word;
    const start = pos + HEADER + (batch ? 4 : 0);
    if (start + len > buf.length) break;
    const payload = buf.subarray(start, start + len);
    const count = batch ? buf.readUInt32LE(pos + HEADER) : 1;
    const crc = batch ? crc32(payload, crc32(buf.subarray(pos + HEADER, start))) : crc32(payload);
    if (crc !== sum || count === 0) break;
    records.push({ offset, count, payload });
    offset += count;
    pos = start + len;
  }
  return { records, goodBytes: pos };
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export class Wal {
  private queue: Pending[] = [];
  private writing = false;
  private closed = false;
  /** Why the tail is not repaired yet: the next write repairs it first. */
  private fault: unknown;
  /** Offset the next append gets (acknowledged records plus those in flight). */
  private next: number;

  private constructor(
    private readonly dir: string,
    private readonly opts: WalOptions,
    private readonly fs: WalFs,
    private segments: number[],
    private file: WalFile,
    /** End of the last acknowledged record in the current segment. */
    private fileBytes: number,
    /** Offset after the last acknowledged record. */
    private durableNext: number,
  ) {
    this.next = durableNext;
  }

  private path(first: number): string {
    return join(this.dir, segmentName(first));
  }

  static async open(dir: string, opts: WalOptions): Promise<Wal> {
    const fs = opts.fs ?? nodeWalFs;
    await fs.mkdir(dir, { recursive: true });
    const segments = (await fs.readdir(dir))
      .map((f) => NAME.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    let next = 0;
    let bytes = 0;
    if (segments.length === 0) {
      segments.push(0);
      await (await createSegment(fs, dir, 0)).close();
    }
    for (;;) {
      const last = segments.at(-1)!;
      const buf = await fs.readFile(join(dir, segmentName(last)));
      const { records, goodBytes } = parseSegment(buf, last);
      if (records.length === 0 && segments.length > 1) {
        // Nothing acknowledged was ever in it: a rotation that crashed (or failed) before its first
        // record. The previous segment carries on, so offsets continue from its own end.
        await fs.rm(join(dir, segmentName(last)), { force: true });
        segments.pop();
        continue;
      }
      const tail = records.at(-1);
      next = tail ? tail.offset + tail.count : last;
      bytes = goodBytes;
      if (goodBytes < buf.length) {
        // A torn write from a crash: it was never acknowledged (the fsync did not complete), so drop it.
        await cutTail(fs, join(dir, segmentName(last)), goodBytes);
      }
      break;
    }
    const file = await fs.open(join(dir, segmentName(segments.at(-1)!)), 'a');
    return new Wal(dir, opts, fs, segments, file, bytes, next);
  }

  /** Offset the next appended record gets. */
  get nextOffset(): number {
    return this.next;
  }

  get firstOffset(): number {
    return this.segments[0] ?? 0;
  }

  /**
   * Appends records (a Buffer takes one offset, a batch `count`); resolves with the first one's offset
   * once they are on disk (fdatasync). Offsets are assigned now, so records keep the order of appends.
   * Rejects with a WalUnavailableError when they could not be made durable, or the tail an earlier
   * failure left could not be repaired first: then nothing of them is kept and their offsets are handed
   * out again.
   */
  append(records: readonly (Buffer | WalBatch)[]): Promise<number> {
    if (this.closed) return Promise.reject(new Error('write-ahead log is closed'));
    const first = this.next;
    const buffers: Buffer[] = [];
    let offsets = 0;
    for (const r of records) {
      if (Buffer.isBuffer(r)) {
        buffers.push(frame(r));
        offsets++;
      } else {
        if (!Number.isSafeInteger(r.count) || r.count < 1 || r.count > 0xffffffff)
          throw new RangeError(`a batch record takes 1 to 2^32-1 offsets, not ${r.count}`);
        if (r.payload.length >= BATCH) throw new RangeError('a write-ahead log record must be under 2 GiB');
        buffers.push(batchHeader(r), r.payload);
        offsets += r.count;
      }
    }
    this.next += offsets;
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ buffers, offsets, resolve: () => resolve(first), reject });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    while (this.queue.length > 0) {
      if (this.fault !== undefined && !(await this.repair())) {
        this.refuse(
          this.queue,
          new WalUnavailableError(
            `write-ahead log cannot be appended to until an earlier failed write is cut off (${message(this.fault)}); retry`,
            { cause: this.fault },
          ),
        );
        continue;
      }
      const batch = this.queue;
      this.queue = [];
      const buffers = batch.flatMap((p) => p.buffers);
      const bytes = buffers.reduce((n, b) => n + b.length, 0);
      try {
        await writeAll(this.file, buffers, bytes);
        await this.file.datasync();
      } catch (err) {
        // Some of its bytes may be in the file (torn, or whole but not durable): none is acknowledged.
        this.fault = err;
        this.refuse(
          [...batch, ...this.queue],
          new WalUnavailableError(
            `write-ahead log append failed (${message(err)}); nothing of it was kept, retry`,
            { cause: err },
          ),
        );
        // Cut now, not at the next append: a crash before then must not bring a refused record back.
        await this.repair();
        continue;
      }
      this.fileBytes += bytes;
      this.durableNext += batch.reduce((n, p) => n + p.offsets, 0);
      for (const p of batch) p.resolve();
      if (this.fileBytes >= this.opts.segmentBytes) await this.rotate();
    }
    this.writing = false;
  }

  /**
   * Refuses appends that were not written: the appends queued behind them were given offsets after
   * them, so every offset from the last acknowledged record on is handed out again.
   */
  private refuse(pending: Pending[], err: WalUnavailableError): void {
    this.queue = [];
    this.next = this.durableNext;
    for (const p of pending) p.reject(err);
  }

  /**
   * Cuts the current segment back to the end of the last acknowledged record, syncs that, and reopens
   * it for appending; says whether all of it succeeded (else `fault` says why). A new handle, because
   * the old one's state after a failed write (its error already reported) is not worth trusting.
   */
  private async repair(): Promise<boolean> {
    try {
      const path = this.path(this.segments.at(-1)!);
      await this.file.close().catch(() => undefined);
      await cutTail(this.fs, path, this.fileBytes);
      this.file = await this.fs.open(path, 'a');
      this.fault = undefined;
      return true;
    } catch (err) {
      this.fault = err;
      return false;
    }
  }

  /**
   * Starts the next segment at the first offset not yet written. A failure here refuses nothing: the
   * current segment simply grows until a later rotation succeeds (a stray new file is removed, and
   * open ignores an empty last segment anyway).
   */
  private async rotate(): Promise<void> {
    const first = this.durableNext;
    let file: WalFile;
    try {
      file = await createSegment(this.fs, this.dir, first);
    } catch {
      await this.fs.rm(this.path(first), { force: true }).catch(() => undefined);
      return;
    }
    const old = this.file;
    this.file = file;
    this.segments.push(first);
    this.fileBytes = 0;
    // Everything in it was synced; a failing close loses nothing.
    await old.close().catch(() => undefined);
  }

  /**
   * Moves an empty or fully committed log forward so its next offset is `offset`: a WAL directory that
   * was lost or replaced must not hand out offsets the database already counts as committed (they would
   * be skipped as replays). Records below `offset` are committed by definition, so their segments go.
   */
  async rebase(offset: number): Promise<void> {
    if (this.next >= offset) return;
    while (this.writing) await new Promise((r) => setTimeout(r, 5));
    await this.file.close().catch(() => undefined);
    for (const first of this.segments) await this.fs.rm(this.path(first), { force: true });
    this.file = await createSegment(this.fs, this.dir, offset);
    this.segments = [offset];
    this.fileBytes = 0;
    this.fault = undefined;
    this.next = this.durableNext = offset;
  }

  /** Every durable record that holds an offset from `from` on, segment by segment (replay). */
  async *read(from: number): AsyncGenerator<WalRecord[]> {
    const segs = [...this.segments];
    for (let i = 0; i < segs.length; i++) {
      const first = segs[i]!;
      const following = segs[i + 1];
      if (following !== undefined && following <= from) continue;
      let buf = await this.fs.readFile(this.path(first));
      // The current segment may hold bytes of an append in flight or refused: only acknowledged ones.
      if (first === this.segments.at(-1)) buf = buf.subarray(0, this.fileBytes);
      const { records } = parseSegment(buf, first);
      const wanted = records.filter((r) => r.offset + r.count > from);
      if (wanted.length > 0) yield wanted;
    }
  }

  /**
   * Removes whole segments every record of which is below `offset` (committed downstream) and, with
   * `retainMs`, whose last append is older than that.
   */
  async truncateBefore(offset: number): Promise<number> {
    let removed = 0;
    const retainMs = this.opts.retainMs ?? 0;
    const now = Date.now();
    while (this.segments.length > 1 && this.segments[1]! <= offset) {
      const path = this.path(this.segments[0]!);
      if (retainMs > 0) {
        // One that cannot be stat'ed (removed by hand) counts as old: removing it again is harmless.
        const lastAppend = await this.fs.stat(path).then(
          (s) => s.mtimeMs,
          () => 0,
        );
        if (lastAppend > now - retainMs) break;
      }
      await this.fs.rm(path, { force: true });
      this.segments.shift();
      removed++;
    }
    return removed;
  }

  /** Stops accepting; a tail still unrepaired gets one last attempt, so a reopen finds no refused bytes. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.writing) await new Promise((r) => setTimeout(r, 5));
    if (this.fault !== undefined) await this.repair();
    await this.file.close().catch(() => undefined);
  }
}

/** Creates (or opens) a segment for appending and syncs the directory, so the file survives power loss. */
async function createSegment(fs: WalFs, dir: string, first: number): Promise<WalFile> {
  const file = await fs.open(join(dir, segmentName(first)), 'a');
  try {
    const d = await fs.open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
    return file;
  } catch (err) {
    await file.close().catch(() => undefined);
    throw err;
  }
}

/** Cuts a segment to `bytes` and syncs the new length. */
async function cutTail(fs: WalFs, path: string, bytes: number): Promise<void> {
  const fh = await fs.open(path, 'r+');
  try {
    await fh.truncate(bytes);
    await fh.sync();
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** writev until every byte is written (a short write resumes where it stopped). */
async function writeAll(file: WalFile, buffers: Buffer[], bytes: number): Promise<void> {
  let rest = buffers;
  let left = bytes;
  while (left > 0) {
    // A few hundred buffers per call keeps within IOV_MAX whatever the group commit gathered.
    const chunk = rest.slice(0, 512);
    let { bytesWritten } = await file.writev(chunk);
    if (bytesWritten <= 0) throw new Error(`write-ahead log write made no progress (${left} bytes left)`);
    left -= bytesWritten;
    let i = 0;
    while (i < chunk.length && bytesWritten >= chunk[i]!.length) bytesWritten -= chunk[i++]!.length;
    rest = rest.slice(i);
    if (bytesWritten > 0) rest[0] = rest[0]!.subarray(bytesWritten);
  }
}
