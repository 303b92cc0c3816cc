/**
 * Write-ahead log ownership over real PostgreSQL and Redis: one process per WAL directory, a retired
 * shard's acknowledged tail counted by the next pipeline that starts beside it, its held feedback settled
 * once no request can still come, and feedback held by one shard joined to a request another shard
 * counted (two API workers or replicas).
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UNASSIGNED_ARM, type TelemetryEvent } from '../../../domain/events';
import { createAggregatesRepo } from '../../../pipeline/adapters/store';
import { ShardLockedError } from '../../../pipeline/adapters/shard-lock';
import { Wal } from '../../../pipeline/adapters/wal';
import { eventually, type testEnv, uniqueName } from '../../helpers/env';
import { llmRequest, userFeedback } from './fixtures';
import { usePipelines } from './pipelines';

const { shared, start: startPipeline, stop, send } = usePipelines();

// Settling waits for max(join horizon, lateness) + window of idleness: two seconds here.
const SHORT = { INGEST_JOIN_HORIZON_MS: 1_000, INGEST_ALLOWED_LATENESS_MS: 0, INGEST_WINDOW_MS: 1_000 };

// Adopted as soon as untouched (the default waits a minute for an owner that is restarting).
const start = (name: string, dataDir: string, env: Partial<typeof testEnv> = {}, lockWaitMs?: number) =>
  startPipeline(name, dataDir, { env, adoptAfterMs: 0, ...(lockWaitMs !== undefined ? { lockWaitMs } : {}) });

const T0 = Date.now() - 60_000;

/** What a worker killed after its 202s leaves: events in its log that no commit has counted. */
async function writeTail(dataDir: string, shard: string, events: TelemetryEvent[]): Promise<void> {
  const wal = await Wal.open(join(dataDir, 'wal', shard), { segmentBytes: 1 << 20 });
  await wal.append(events.map((e) => Buffer.from(JSON.stringify(e))));
  await wal.close();
}

async function countsByArm(
  target: string,
): Promise<{ requests: Record<string, number>; feedback: Record<string, number> }> {
  const windows = await createAggregatesRepo(shared.db).query({
    target,
    from: new Date(T0 - 3_600_000).toISOString(),
    to: new Date().toISOString(),
  });
  const requests: Record<string, number> = {};
  const feedback: Record<string, number> = {};
  for (const w of windows) {
    if (w.count > 0) requests[w.arm] = (requests[w.arm] ?? 0) + w.count;
    if (w.feedback.count > 0) feedback[w.arm] = (feedback[w.arm] ?? 0) + w.feedback.count;
  }
  return { requests, feedback };
}

describe('write-ahead log ownership', () => {
  it('refuses a second pipeline on a directory a live one holds, naming the setting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmopt-lock-'));
    const name = uniqueName('lock');
    await start(name, dir);
    const second = start(name, dir, {}, 0);
    await expect(second).rejects.toBeInstanceOf(ShardLockedError);
    await expect(second).rejects.toThrow(/INGEST_SHARD_NAME/);
  });

  it('counts the acknowledged tail of a retired shard once, from the pipeline that starts beside it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmopt-retired-'));
    const target = uniqueName('retired');
    const retired = uniqueName('retired-w1');
    await writeTail(
      dir,
      retired,
      [1, 2, 3].map((n) => llmRequest(target, n, T0 + n, { arm: 'arm-a' })),
    );

    const survivor = await start(uniqueName('retired-w0'), dir);
    expect(await survivor.adoption).toEqual(
      expect.arrayContaining([{ name: retired, settled: 0, removed: true }]),
    );
    expect((await countsByArm(target)).requests).toEqual({ 'arm-a': 3 });
    // Everything counted, nothing held: the directory is gone, so later rounds skip it.
    expect(existsSync(join(dir, 'wal', retired))).toBe(false);

    // The owner coming back later continues from the checkpoint: nothing is counted twice.
    await stop(survivor);
    const back = await start(retired, dir);
    await back.pipeline.drain();
    expect((await countsByArm(target)).requests).toEqual({ 'arm-a': 3 });
  });

  it('leaves a directory written within the last minute to its owner, who may be restarting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmopt-recent-'));
    const target = uniqueName('recent');
    const restarting = uniqueName('recent-w1');
    await writeTail(dir, restarting, [llmRequest(target, 1, T0, { arm: 'arm-a' })]);
    const other = await startPipeline(uniqueName('recent-w0'), dir);
    expect((await other.adoption).map((a) => a.name)).not.toContain(restarting);
    // Its owner, back, counts its own tail.
    const back = await start(restarting, dir);
    await back.pipeline.drain();
    expect((await countsByArm(target)).requests).toEqual({ 'arm-a': 1 });
  });

  it("settles a retired shard's held feedback once no request can still come", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmopt-settle-'));
    const target = uniqueName('settle');
    const retired = uniqueName('settle-w1');
    const w1 = await start(retired, dir, SHORT);
    // Feedback 1's request goes to another worker; feedback 2's never comes.
    await send(w1, [userFeedback(target, 1, T0 + 1_000), userFeedback(target, 2, T0 + 1_000)]);
    expect(w1.pipeline.waiting).toBe(2);
    await stop(w1);
    const other = await start(
      uniqueName('settle-other'),
      mkdtempSync(join(tmpdir(), 'llmopt-settle-')),
      SHORT,
    );
    await send(other, [llmRequest(target, 1, T0 + 500, { arm: 'arm-b' })]);

    // Too early: the retired shard is adopted but its feedback keeps waiting.
    const early = await start(uniqueName('settle-w0'), dir, SHORT);
    expect(await early.adoption).toEqual(
      expect.arrayContaining([{ name: retired, settled: 0, removed: false }]),
    );
    expect((await countsByArm(target)).feedback).toEqual({});
    await stop(early);

    await new Promise((r) => setTimeout(r, 2_100));
    const late = await start(uniqueName('settle-w0b'), dir, SHORT);
    expect(await late.adoption).toEqual(
      expect.arrayContaining([{ name: retired, settled: 2, removed: true }]),
    );
    expect((await countsByArm(target)).feedback).toEqual({ 'arm-b': 1, [UNASSIGNED_ARM]: 1 });
  });

  it('joins feedback one shard holds to the request another shard counted', async () => {
    const target = uniqueName('xshard');
    const a = await start(uniqueName('xshard-a'), mkdtempSync(join(tmpdir(), 'llmopt-x-')));
    const b = await start(uniqueName('xshard-b'), mkdtempSync(join(tmpdir(), 'llmopt-x-')));
    await send(a, [userFeedback(target, 1, T0 + 1_000)]);
    expect(a.pipeline.waiting).toBe(1);
    await send(b, [llmRequest(target, 1, T0, { arm: 'arm-c' })]);
    // The next events at `a` ask the shared index again (at most once a second).
    let n = 100;
    await eventually(
      async () => {
        await send(a, [llmRequest(target, n++, T0 + 2_000, { arm: 'arm-a' })]);
        return a.pipeline.waiting === 0;
      },
      { timeoutMs: 10_000, intervalMs: 300, what: 'the held feedback to join' },
    );
    expect((await countsByArm(target)).feedback).toEqual({ 'arm-c': 1 });
  });
});
