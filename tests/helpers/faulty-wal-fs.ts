/**
 * The write-ahead log's file system with faults on demand, over the real one: a failing write really
 * leaves its first bytes in the file (torn, as a full disk does), a short write really writes fewer
 * bytes than asked, and a failing fdatasync leaves the written bytes in the page cache. Each queued
 * fault applies to the next call of its kind (`null` lets that call through); with none queued a call
 * goes straight to node:fs.
 */
import { nodeWalFs, type WalFile, type WalFs } from '../../pipeline/adapters/wal';

export type FaultCode = 'ENOSPC' | 'EIO' | 'EMFILE';

export type WriteFault =
  /** Writes `after` bytes for real, then fails. */
  | { code: FaultCode; after: number }
  /** Writes only `bytes` bytes and says so, without an error (the caller must write the rest). */
  | { short: number };

const ERRNO: Record<FaultCode, number> = { ENOSPC: -28, EIO: -5, EMFILE: -24 };

export function fsError(code: FaultCode, syscall: string): NodeJS.ErrnoException {
  const text = { ENOSPC: 'no space left on device', EIO: 'i/o error', EMFILE: 'too many open files' }[code];
  return Object.assign(new Error(`${code}: ${text}, ${syscall}`), { code, errno: ERRNO[code], syscall });
}

/** The first `n` bytes of `buffers`. */
function prefix(buffers: readonly Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of buffers) {
    if (n <= 0) break;
    out.push(b.subarray(0, n));
    n -= Math.min(n, b.length);
  }
  return out;
}

async function writeExactly(file: WalFile, buffers: Buffer[]): Promise<number> {
  let written = 0;
  const rest = buffers.filter((b) => b.length > 0);
  while (rest.length > 0) {
    let { bytesWritten } = await file.writev(rest);
    written += bytesWritten;
    while (rest.length > 0 && bytesWritten >= rest[0]!.length) bytesWritten -= rest.shift()!.length;
    if (bytesWritten > 0) rest[0] = rest[0]!.subarray(bytesWritten);
  }
  return written;
}

export class FaultyWalFs implements WalFs {
  readonly writes: (WriteFault | null)[] = [];
  readonly datasyncs: (FaultCode | null)[] = [];
  readonly truncates: (FaultCode | null)[] = [];
  /** Every open: segments, the directory (synced after a new segment), a repair's handles. */
  readonly opens: (FaultCode | null)[] = [];
  /** Runs after each write that went through, before the call returns (a crash test stops here). */
  afterWrite: ((bytes: number) => Promise<void>) | undefined;
  /** Runs when a write fault is applied, after its bytes are on the file. */
  onFault: (() => Promise<void>) | undefined;

  constructor(private readonly base: WalFs = nodeWalFs) {}

  /** Drops every fault not yet applied. */
  clear(): void {
    for (const q of [this.writes, this.datasyncs, this.truncates, this.opens]) q.length = 0;
  }

  mkdir = (path: string, opts: { recursive: true }) => this.base.mkdir(path, opts);
  readdir = (path: string) => this.base.readdir(path);
  readFile = (path: string) => this.base.readFile(path);
  stat = (path: string) => this.base.stat(path);
  rm = (path: string, opts: { force: true }) => this.base.rm(path, opts);

  async open(path: string, flags: 'a' | 'r' | 'r+'): Promise<WalFile> {
    const fault = this.opens.shift();
    if (fault) throw fsError(fault, 'open');
    const file = await this.base.open(path, flags);
    return {
      writev: async (buffers) => {
        const fault = this.writes.shift();
        if (fault && 'short' in fault)
          return { bytesWritten: await writeExactly(file, prefix(buffers, fault.short)) };
        if (fault) {
          await writeExactly(file, prefix(buffers, fault.after));
          await this.onFault?.();
          throw fsError(fault.code, 'write');
        }
        const r = await file.writev(buffers);
        await this.afterWrite?.(r.bytesWritten);
        return r;
      },
      datasync: async () => {
        const fault = this.datasyncs.shift();
        if (fault) throw fsError(fault, 'fdatasync');
        return file.datasync();
      },
      sync: () => file.sync(),
      truncate: async (len) => {
        const fault = this.truncates.shift();
        if (fault) throw fsError(fault, 'ftruncate');
        return file.truncate(len);
      },
      close: () => file.close(),
    };
  }
}
