/**
 * One process at a time per write-ahead log directory. Two processes appending to one WAL (the same
 * INGEST_SHARD_NAME twice on a machine) would hand out the same offsets and lose acknowledged events, so
 * a pipeline locks its directory before it opens the log. The lock is proper-lockfile's: a `<dir>.lock`
 * directory whose mtime the holder refreshes; a holder killed with SIGKILL leaves a lock that goes stale
 * after `STALE_MS`, and a restart waits that long at most. Across machines the checkpoint's epoch fences
 * a second claimant (pipeline/adapters/store.ts `claim`).
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import lockfile from 'proper-lockfile';

/** A lock not refreshed for this long belongs to a dead process (the holder refreshes every second). */
const STALE_MS = 5_000;
const UPDATE_MS = 1_000;

export interface ShardLock {
  release(): Promise<void>;
}

export class ShardLockedError extends Error {
  constructor(readonly dir: string) {
    super(
      `the write-ahead log ${dir} is locked by another running process; give each process sharing a DATA_DIR its own INGEST_SHARD_NAME`,
    );
    this.name = 'ShardLockedError';
  }
}

/**
 * Locks `dir`, then creates it if missing. `waitMs` > 0 waits for a holder that is going away (a crashed
 * process's stale lock, a retiring drain); 0 only tries. `onLost` runs if another process took the lock
 * anyway (this one stalled past the stale time): the caller must stop writing.
 */
export async function lockShardDir(
  dir: string,
  opts: { waitMs: number; onLost: (err: Error) => void },
): Promise<ShardLock> {
  // The lock first, the directory after: a directory that exists is never one being claimed.
  await mkdir(dirname(dir), { recursive: true });
  const retries = Math.ceil(opts.waitMs / 250);
  try {
    const release = await lockfile.lock(dir, {
      stale: STALE_MS,
      update: UPDATE_MS,
      realpath: false,
      retries: retries > 0 ? { retries, factor: 1, minTimeout: 250, maxTimeout: 250 } : 0,
      onCompromised: opts.onLost,
    });
    await mkdir(dir, { recursive: true }).catch(async (err: unknown) => {
      await release();
      throw err;
    });
    return {
      release: () => release().catch(() => undefined),
    };
  } catch (err) {
    if ((err as { code?: string }).code === 'ELOCKED') throw new ShardLockedError(dir);
    throw err;
  }
}
