/**
 * Events the database cannot store, forced past the boundary by writing them straight into a shard's
 * write-ahead log (what a stricter validator never lets in, or what a future bug might): the shard sets
 * them aside as dead letters with the reason and their exact bytes, commits the rest, keeps committing
 * what comes later, and a restart replays the log cleanly to the same totals.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createAggregatesRepo } from '../../../pipeline/adapters/store';
import { Wal } from '../../../pipeline/adapters/wal';
import { createMetrics, type Metrics } from '../../../platform/metrics';
import { uniqueName } from '../../helpers/env';
import { llmRequest, userFeedback } from './fixtures';
import { usePipelines } from './pipelines';

const { shared, start, stop, send } = usePipelines();
const T0 = Date.now() - 60_000;

/** Records in the shard's log as an API process writes them after a 202, no validation on the way. */
async function writeTail(dataDir: string, shard: string, events: unknown[]): Promise<void> {
  const wal = await Wal.open(join(dataDir, 'wal', shard), { segmentBytes: 1 << 20 });
  await wal.append(events.map((e) => Buffer.from(JSON.stringify(e))));
  await wal.close();
}

async function requestCount(target: string): Promise<number> {
  const windows = await createAggregatesRepo(shared.db).query({
    target,
    from: new Date(T0 - 3_600_000).toISOString(),
    to: new Date(Date.now() + 60_000).toISOString(),
  });
  return windows.reduce((s, w) => s + w.count, 0);
}

const deadLetters = (shard: string) =>
  createAggregatesRepo(shared.db).listDeadLetters({ shardPrefix: `wal:${shard}`, limit: 100 });

/** Dead letters by reason as /metrics counts them (the shard thread reports them to this registry). */
async function deadLetterCount(metrics: Metrics, reason: string): Promise<number> {
  const metric = await metrics.registry.getSingleMetric('llmopt_ingest_dead_letters_total')?.get();
  return metric?.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

describe.each([
  { mode: 'on the API thread', thread: false },
  { mode: 'in a shard thread', thread: true },
])('an event the database refuses, shard $mode', ({ thread }) => {
  const env = { INGEST_SHARD_THREAD: thread };
  it('is set aside with its reason and exact bytes; the rest, later events and a restart all commit', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'llmopt-poison-'));
    const shard = uniqueName('poison');
    const target = uniqueName('bot');
    const nulErrorType = llmRequest(target, 2, T0, { status: 'error', error_type: 'boom\u0000' });
    const loneComment = { ...userFeedback(target, 90, T0), comment: 'half \ud800 a pair' };
    const nulRequestId = { ...userFeedback(target, 91, T0), request_id: `${target}-r\u0000` };
    await writeTail(dataDir, shard, [
      llmRequest(target, 1, T0),
      nulErrorType,
      loneComment,
      nulRequestId,
      llmRequest(target, 3, T0),
    ]);

    const metrics = createMetrics('test');
    let p = await start(shard, dataDir, { env, metrics });
    await p.pipeline.drain();
    expect(await requestCount(target)).toBe(2);
    const letters = await deadLetters(shard);
    expect(letters.map((d) => [d.offset, d.reasonCode]).sort()).toEqual([
      [1, 'unstorable'],
      [2, 'unstorable'],
      [3, 'unstorable'],
    ]);
    // Stored whatever they hold: the raw bytes give back the very event, NUL and lone surrogate included.
    const byOffset = new Map(letters.map((d) => [d.offset, JSON.parse(d.raw.toString('utf8')) as unknown]));
    expect(byOffset.get(1)).toEqual(nulErrorType);
    expect(byOffset.get(2)).toEqual(loneComment);
    expect(byOffset.get(3)).toEqual(nulRequestId);
    expect(await deadLetterCount(metrics, 'unstorable')).toBe(3);

    // The shard keeps committing: later events reach the aggregates.
    await send(
      p,
      [4, 5, 6].map((n) => llmRequest(target, n, T0)),
    );
    expect(await requestCount(target)).toBe(5);

    // A restart replays the log from its checkpoint without tripping over the set-aside events.
    await stop(p);
    p = await start(shard, dataDir, { env });
    await p.pipeline.drain();
    expect(await requestCount(target)).toBe(5);
    expect(await deadLetters(shard)).toHaveLength(3);
    expect(p.pipeline.stats.committed).toBe(8);
    expect(() => p.pipeline.health()).not.toThrow();
  });

  it('is found by bisecting the commit when nothing in its text gives it away', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'llmopt-poison-'));
    const shard = uniqueName('poison-bisect');
    const target = uniqueName('bot');
    // Valid text, but its window ends in the year 10000, which PostgreSQL's timestamptz cannot take.
    const endOfTime = llmRequest(target, 2, 0, { timestamp: '9999-12-31T23:59:59.999Z' });
    const before = Array.from({ length: 20 }, (_, i) => llmRequest(target, 100 + i, T0));
    const after = Array.from({ length: 20 }, (_, i) => llmRequest(target, 200 + i, T0));
    await writeTail(dataDir, shard, [...before, endOfTime, ...after]);

    const p = await start(shard, dataDir, { env });
    await p.pipeline.drain();
    expect(await requestCount(target)).toBe(40);
    const [letter, ...more] = await deadLetters(shard);
    expect(more).toEqual([]);
    expect(letter).toMatchObject({ offset: 20, eventId: endOfTime.id, reasonCode: 'unstorable' });
    expect(letter!.reason).toMatch(/^unstorable: the database refused the event \(22\w{3}: /);
  });
});
