/**
 * Retired shards: a write-ahead log directory under DATA_DIR that no running process holds. It is left
 * behind when a process crashed and never came back under its name, or when a machine runs fewer API
 * workers than before (API_WORKERS). Acknowledged events at its tail would never be counted, and feedback
 * it holds for a request would wait forever. The API adopts each such directory in turn, when it starts
 * and every few minutes after: one untouched for a minute (its owner is not just restarting) whose lock
 * it can take (no live process holds it). It replays the tail into the database and, once the shard has
 * been idle longer than any request could still arrive to join its held feedback, settles that feedback
 * (joined through the shared index, else `unassigned`); a shard left with nothing loses its directory.
 * An owner coming back later simply continues from the checkpoint.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../platform/logger';
import type { IngestPipeline } from './embedded';
import { ShardLockedError } from './adapters/shard-lock';

const SHARD_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export interface AdoptedShard {
  name: string;
  /** Feedback held by the shard whose wait was ended. */
  settled: number;
  /** Everything counted and nothing held: the directory was removed. */
  removed: boolean;
}

/** Newest modification time of the files in `dir` (0 when empty): when the log was last appended to. */
async function lastWrite(dir: string): Promise<number> {
  let newest = 0;
  for (const f of await readdir(dir)) newest = Math.max(newest, (await stat(join(dir, f))).mtimeMs);
  return newest;
}

export async function adoptRetiredShards(opts: {
  dataDir: string;
  /** This process's own shard, never adopted. */
  own: string;
  /** A pipeline for the named shard, with this process's dependencies. */
  pipelineFor: (name: string) => IngestPipeline;
  /** Held feedback is settled only after the shard has been idle this long. */
  settleAfterMs: number;
  /** A directory written more recently than this is left to its owner, who may be restarting. */
  adoptAfterMs: number;
  logger: Logger;
  /** Stops before the next directory (the process is stopping). */
  signal?: AbortSignal;
}): Promise<AdoptedShard[]> {
  const root = join(opts.dataDir, 'wal');
  const names = await readdir(root, { withFileTypes: true }).catch(() => []);
  const adopted: AdoptedShard[] = [];
  for (const entry of names) {
    if (opts.signal?.aborted) break;
    const name = entry.name;
    if (!entry.isDirectory() || name === opts.own || !SHARD_NAME.test(name)) continue;
    const idleMs = Date.now() - (await lastWrite(join(root, name)).catch(() => Date.now()));
    if (idleMs < opts.adoptAfterMs) continue;
    const pipeline = opts.pipelineFor(name);
    try {
      await pipeline.start(0);
    } catch (err) {
      if (err instanceof ShardLockedError) continue; // a live process holds it
      opts.logger.error({ err, shard: name }, 'could not adopt a retired ingest shard');
      continue;
    }
    let settled = 0;
    try {
      if (pipeline.waiting > 0 && idleMs >= opts.settleAfterMs) settled = await pipeline.settleWaiting();
    } finally {
      // Drained and holding nothing: the directory goes, so later rounds skip it.
      const removed = await pipeline.stop({ removeIfDrained: true });
      adopted.push({ name, settled, removed });
    }
  }
  if (adopted.length > 0) opts.logger.info({ adopted }, 'adopted retired ingest shards');
  return adopted;
}
