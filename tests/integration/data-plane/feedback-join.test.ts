/**
 * The feedback join survives processes, over real PostgreSQL and Redis: a `user.feedback` that arrives
 * after the pipeline that counted its request restarted, or at another pipeline altogether, still joins
 * the request's arm through the shared join index. Without Redis (one process, memory only) a restart
 * forgets the committed requests and the feedback falls to the unassigned arm: the contrast shows the
 * shared index is what joins.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UNASSIGNED_ARM } from '../../../domain/events';
import { createAggregatesRepo } from '../../../pipeline/adapters/store';
import { type testEnv, uniqueName } from '../../helpers/env';
import { llmRequest, userFeedback } from './fixtures';
import { usePipelines } from './pipelines';
import { createRedisJoinIndex } from '../../../pipeline/adapters/join-index';

const { shared, start: startPipeline, stop, send } = usePipelines();
const start = (name: string, dataDir: string, withRedis: boolean, env: Partial<typeof testEnv> = {}) =>
  startPipeline(name, dataDir, { redis: withRedis, env });

const T0 = Date.now() - 120_000;
const request = (target: string, n: number, arm: string) => llmRequest(target, n, T0 + n, { arm });
// Seconds after its request, in the same window: only the join decides the arm.
const feedback = (target: string, n: number) => userFeedback(target, n, T0 + n + 1_000);

async function feedbackByArm(target: string): Promise<Record<string, number>> {
  const windows = await createAggregatesRepo(shared.db).query({
    target,
    from: new Date(T0 - 3_600_000).toISOString(),
    to: new Date().toISOString(),
  });
  const out: Record<string, number> = {};
  for (const w of windows) if (w.feedback.count > 0) out[w.arm] = (out[w.arm] ?? 0) + w.feedback.count;
  return out;
}

describe('feedback join across restarts and processes', () => {
  it('joins feedback that arrives after a restart, or at another pipeline, to its request', async () => {
    const target = uniqueName('join');
    const name = uniqueName('join-a');
    const dir = mkdtempSync(join(tmpdir(), 'llmopt-join-'));
    const first = await start(name, dir, true);
    await send(first, [request(target, 1, 'arm-a'), request(target, 2, 'arm-b')]);
    await stop(first);

    // The same pipeline restarted: its memory is gone, its request was committed long ago.
    const restarted = await start(name, dir, true);
    await send(restarted, [feedback(target, 1)]);
    // Another pipeline (another process, another shard) gets the other request's feedback.
    const other = await start(uniqueName('join-b'), mkdtempSync(join(tmpdir(), 'llmopt-join-')), true);
    await send(other, [feedback(target, 2)]);

    expect(await feedbackByArm(target)).toEqual({ 'arm-a': 1, 'arm-b': 1 });
  });

  it('without the shared index a restart loses the join (the contrast)', async () => {
    const target = uniqueName('nojoin');
    const name = uniqueName('nojoin');
    const dir = mkdtempSync(join(tmpdir(), 'llmopt-join-'));
    // A short lateness, so that a later event soon decides the waiting feedback's fate.
    const env = { INGEST_ALLOWED_LATENESS_MS: 10_000 };
    const first = await start(name, dir, false, env);
    await send(first, [request(target, 1, 'arm-a')]);
    await stop(first);
    const restarted = await start(name, dir, false, env);
    // The feedback waits for its request within the lateness, then counts unassigned; a later event
    // pushes the watermark past that point.
    await send(restarted, [
      feedback(target, 1),
      { ...request(target, 9, 'arm-a'), timestamp: new Date(Date.now()).toISOString() },
    ]);
    expect(await feedbackByArm(target)).toEqual({ [UNASSIGNED_ARM]: 1 });
  });
});

describe('the shared join index in Redis', () => {
  it('finds a request from up to one horizon before its feedback, in any bucket', async () => {
    const horizon = 60_000;
    const index = createRedisJoinIndex(shared.redis, horizon, `${uniqueName('joinidx')}:`);
    const fb = 1_000_000_000_123;
    const requests: [string, { segment: string; arm: string; ts: number }][] = [
      ['at-horizon', { segment: 's', arm: 'a', ts: fb - horizon }],
      ['mid', { segment: 's', arm: 'b', ts: fb - horizon / 2 }],
      ['just-after', { segment: 's', arm: 'c', ts: fb + 1 }],
    ];
    await index.record(requests);
    const found = await index.lookup(requests.map(([requestId]) => ({ requestId, ts: fb })));
    expect(Object.fromEntries([...found].map(([id, e]) => [id, e.arm]))).toEqual({
      'at-horizon': 'a',
      mid: 'b',
      'just-after': 'c',
    });
    expect((await index.lookup([{ requestId: 'never', ts: fb }])).size).toBe(0);
  });
});
