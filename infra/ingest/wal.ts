/**
 * The write-ahead log of embedded mode: accepted events are appended and fdatasync'd before the API
 * answers 202, so a SIGKILL loses nothing acknowledged. Concurrent appends share one write and one
 * fdatasync (group commit). A record is [u32 length][u32 crc32][payload] and takes one offset, or, with
 * the length's top bit set, [u32 length|BATCH][u32 crc32][u32 count][payload] and takes `count`
 * consecutive offsets (a whole request body written once instead of one record per event; the crc
 * covers the count too). A torn tail left by a crash fails its checksum and is cut off on open. Segment
 * files are named by their first offset and removed once the pipeline has committed past them.
 */
import { mkdir, open, readdir, readFile, rm, type FileHandle } from 'node:fs/promises';
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

interface Pending {
  buffers: Buffer[];
  offsets: number;
  resolve(): void;
  reject(err: unknown): void;
}

export interface WalOptions {
  /** Start a new segment file once the current one is this large. */
  segmentBytes: number;
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

export class Wal {
  private queue: Pending[] = [];
  private writing = false;
  private closed = false;

  private constructor(
    private readonly dir: string,
    private readonly opts: WalOptions,
    private segments: number[],
    private file: FileHandle,
    private fileBytes: number,
    private next: number,
  ) {}

  static async open(dir: string, opts: WalOptions): Promise<Wal> {
    await mkdir(dir, { recursive: true });
    const segments = (await readdir(dir))
      .map((f) => NAME.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    let next = 0;
    let bytes = 0;
    if (segments.length === 0) segments.push(0);
    else {
      const last = segments.at(-1)!;
      const buf = await readFile(join(dir, segmentName(last)));
      const { records, goodBytes } = parseSegment(buf, last);
      const tail = records.at(-1);
      next = tail ? tail.offset + tail.count : last;
      bytes = goodBytes;
      if (goodBytes < buf.length) {
        // A torn write from a crash: it was never acknowledged (the fsync did not complete), so drop it.
        const fh = await open(join(dir, segmentName(last)), 'r+');
        await fh.truncate(goodBytes);
        await fh.datasync();
        await fh.close();
      }
    }
    const file = await open(join(dir, segmentName(segments.at(-1)!)), 'a');
    return new Wal(dir, opts, segments, file, bytes, next);
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
      const batch = this.queue;
      this.queue = [];
      try {
        const buffers = batch.flatMap((p) => p.buffers);
        const bytes = buffers.reduce((n, b) => n + b.length, 0);
        await writeAll(this.file, buffers, bytes);
        await this.file.datasync();
        this.fileBytes += bytes;
        for (const p of batch) p.resolve();
        if (this.fileBytes >= this.opts.segmentBytes) await this.rotate();
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    this.writing = false;
  }

  private async rotate(): Promise<void> {
    // Offsets queued after this point were assigned beyond `next` of the written data only once written.
    const first = this.next - this.queue.reduce((n, p) => n + p.offsets, 0);
    await this.file.close();
    this.file = await open(join(this.dir, segmentName(first)), 'a');
    this.segments.push(first);
    this.fileBytes = 0;
  }

  /**
   * Moves an empty or fully committed log forward so its next offset is `offset`: a WAL directory that
   * was lost or replaced must not hand out offsets the database already counts as committed (they would
   * be skipped as replays). Records below `offset` are committed by definition, so their segments go.
   */
  async rebase(offset: number): Promise<void> {
    if (this.next >= offset) return;
    while (this.writing) await new Promise((r) => setTimeout(r, 5));
    await this.file.close();
    for (const first of this.segments) await rm(join(this.dir, segmentName(first)), { force: true });
    this.file = await open(join(this.dir, segmentName(offset)), 'a');
    this.segments = [offset];
    this.fileBytes = 0;
    this.next = offset;
  }

  /** Every durable record that holds an offset from `from` on, segment by segment (replay). */
  async *read(from: number): AsyncGenerator<WalRecord[]> {
    const segs = [...this.segments];
    for (let i = 0; i < segs.length; i++) {
      const first = segs[i]!;
      const following = segs[i + 1];
      if (following !== undefined && following <= from) continue;
      const buf = await readFile(join(this.dir, segmentName(first)));
      const { records } = parseSegment(buf, first);
      const wanted = records.filter((r) => r.offset + r.count > from);
      if (wanted.length > 0) yield wanted;
    }
  }

  /** Removes whole segments every record of which is below `offset` (committed downstream). */
  async truncateBefore(offset: number): Promise<number> {
    let removed = 0;
    while (this.segments.length > 1 && this.segments[1]! <= offset) {
      const first = this.segments.shift()!;
      await rm(join(this.dir, segmentName(first)), { force: true });
      removed++;
    }
    return removed;
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.writing) await new Promise((r) => setTimeout(r, 5));
    await this.file.close();
  }
}

/** writev until every byte is written (a short write resumes where it stopped). */
async function writeAll(file: FileHandle, buffers: Buffer[], bytes: number): Promise<void> {
  let rest = buffers;
  let left = bytes;
  while (left > 0) {
    // A few hundred buffers per call keeps within IOV_MAX whatever the group commit gathered.
    const chunk = rest.slice(0, 512);
    let { bytesWritten } = await file.writev(chunk);
    left -= bytesWritten;
    let i = 0;
    while (i < chunk.length && bytesWritten >= chunk[i]!.length) bytesWritten -= chunk[i++]!.length;
    rest = rest.slice(i);
    if (bytesWritten > 0) rest[0] = rest[0]!.subarray(bytesWritten);
  }
}
