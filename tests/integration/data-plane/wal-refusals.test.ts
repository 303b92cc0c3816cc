/**
 * The embedded pipeline over a write-ahead log that fails a write (real file system, real PostgreSQL):
 * the client of the refused batch gets 503 with Retry-After, none of that batch is counted until the
 * client retries it, batches after it are acknowledged and counted once, and a restart replays nothing
 * twice. Without Redis, an id acknowledged before a restart is still a duplicate after it, even once the
 * segment that held it was committed.
 */
// First: @hono/zod-openapi must extend zod before any schema is built (api/main.ts does the same).
import { call, startTestSystem, type TestSystem } from '../../helpers/system';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TelemetryEvent } from '../../../domain/events';
import { AppError } from '../../../domain/errors';
import { PriceBook } from '../../../domain/pricing';
import { createAggregatesRepo } from '../../../pipeline/adapters/store';
import { shardConfig } from '../../../pipeline/common';
import { createMemoryDedup } from '../../../pipeline/core/dedup';
import { EmbeddedPipeline } from '../../../pipeline/embedded';
import type { WalFs } from '../../../pipeline/adapters/wal';
import { createLogger } from '../../../platform/logger';
import { testEnv, uniqueName } from '../../helpers/env';
import { FaultyWalFs } from '../../helpers/faulty-wal-fs';
import { llmRequest } from './fixtures';

let sys: TestSystem;
const running = new Set<EmbeddedPipeline>();
beforeAll(async () => {
  sys = await startTestSystem({ workers: false });
});
afterAll(async () => {
  for (const p of running) await p.stop();
  await sys?.stop();
});

const logger = createLogger('test', testEnv.LOG_LEVEL);
const HORIZON_MS = 86_400_000;

/** A started pipeline as a process would run it: its own in-memory dedup store (no Redis). */
async function start(name: string, dataDir: string, fs?: WalFs): Promise<EmbeddedPipeline> {
  const p = new EmbeddedPipeline({
    dataDir,
    name,
    repo: createAggregatesRepo(sys.deps.db),
    dedup: createMemoryDedup(HORIZON_MS),
    prices: () => PriceBook.defaults(),
    shard: shardConfig(testEnv),
    flushIntervalMs: 100,
    maxBufferedEvents: 100_000,
    walSegmentBytes: 1024,
    logger,
    ...(fs ? { walFs: fs } : {}),
  });
  await p.start(0);
  running.add(p);
  return p;
}

async function stop(p: EmbeddedPipeline): Promise<void> {
  running.delete(p);
  await p.stop();
}

const accept = (p: EmbeddedPipeline, events: TelemetryEvent[]) =>
  p.accept(events.map((event) => ({ event, ts: Date.parse(event.timestamp) })));

/** Events of `target` counted in its stored windows. */
async function counted(target: string): Promise<number> {
  const windows = await createAggregatesRepo(sys.deps.db).query({
    target,
    from: new Date(Date.now() - 3_600_000).toISOString(),
    to: new Date(Date.now() + 60_000).toISOString(),
  });
  return windows.reduce((n, w) => n + w.count, 0);
}

const events = (target: string, from: number, n: number) =>
  Array.from({ length: n }, (_, i) => llmRequest(target, from + i, Date.now() - 30_000 + i));

describe('embedded pipeline when the write-ahead log fails a write', () => {
  const faults: { name: string; inject(fs: FaultyWalFs): void }[] = [
    { name: 'a full disk mid-write', inject: (fs) => fs.writes.push({ code: 'ENOSPC', after: 20 }) },
    { name: 'an I/O error on write', inject: (fs) => fs.writes.push({ code: 'EIO', after: 0 }) },
    {
      name: 'a short write, then a full disk',
      inject: (fs) => fs.writes.push({ short: 7 }, { code: 'ENOSPC', after: 0 }),
    },
    { name: 'a failed fdatasync', inject: (fs) => fs.datasyncs.push('EIO') },
  ];
  for (const fault of faults)
    it(`on ${fault.name}, counts none of the refused batch until it is retried, and every acknowledged one once`, async () => {
      const target = uniqueName('wal-refused');
      const name = uniqueName('walr');
      const dataDir = mkdtempSync(join(tmpdir(), 'llmopt-walr-'));
      const fs = new FaultyWalFs();
      let p = await start(name, dataDir, fs);
      const [a, refused, c] = [events(target, 0, 3), events(target, 3, 4), events(target, 7, 5)];
      await accept(p, a);
      fault.inject(fs);
      const err = await accept(p, refused).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({ type: 'unavailable', status: 503, details: { retryAfterSeconds: 1 } });
      await accept(p, c);
      await p.drain();
      expect(await counted(target)).toBe(a.length + c.length);

      await accept(p, refused); // the client's retry
      await p.drain();
      expect(await counted(target)).toBe(a.length + refused.length + c.length);

      // A restart replays the log from the checkpoint: nothing is counted twice.
      await stop(p);
      p = await start(name, dataDir);
      await p.drain();
      expect(await counted(target)).toBe(a.length + refused.length + c.length);
    });

  it('answers POST /v1/events with 503 and Retry-After, never 202, while the log refuses', async () => {
    const target = uniqueName('wal-http');
    const fs = new FaultyWalFs();
    const p = await start(uniqueName('walh'), mkdtempSync(join(tmpdir(), 'llmopt-walh-')), fs);
    sys.deps.ingest = {
      sink: p,
      limits: { maxBatchEvents: 100, maxDecompressedBytes: 1 << 20, maxFutureSkewMs: 300_000 },
    };
    const batch = events(target, 0, 4);
    fs.datasyncs.push('EIO');
    const refused = await call(sys, 'POST', '/v1/events', batch);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const retried = await call(sys, 'POST', '/v1/events', batch);
    expect(retried.status).toBe(202);
    await p.drain();
    expect(await counted(target)).toBe(batch.length);
  });
});

describe('in-process dedup across a restart (no Redis)', () => {
  it('still recognises an id acknowledged before the restart after its segment was committed', async () => {
    const target = uniqueName('wal-dedup');
    const name = uniqueName('wald');
    const dataDir = mkdtempSync(join(tmpdir(), 'llmopt-wald-'));
    let p = await start(name, dataDir);
    const first = events(target, 0, 2);
    await accept(p, first);
    await accept(p, events(target, 2, 5));
    // The same process: a resend is a duplicate.
    await accept(p, first);
    // Then enough to fill several 1 KiB segments after both, all committed.
    for (let i = 0; i < 6; i++) await accept(p, events(target, 7 + i * 5, 5));
    await p.drain();
    const total = 7 + 6 * 5;
    expect(await counted(target)).toBe(total);
    expect(p.stats.duplicates).toBe(first.length);

    // A new process with an empty store, rebuilt from the log the horizon keeps.
    await stop(p);
    // Committed, yet kept for the horizon: the first segment, with the first ids, is still there.
    expect(readdirSync(join(dataDir, 'wal', name))).toContain(`${'0'.padStart(20, '0')}.wal`);
    p = await start(name, dataDir);
    const duplicates = p.stats.duplicates;
    await accept(p, first);
    await p.drain();
    expect(await counted(target)).toBe(total);
    expect(p.stats.duplicates).toBe(duplicates + first.length);
  });
});
