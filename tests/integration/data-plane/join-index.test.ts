/**
 * The feedback join index port (pipeline/core/join.ts): the in-memory implementation and the Redis one
 * shared by every process answer alike: a request is found by feedback within the join horizon after
 * it, not long past it, and an id recorded again takes its latest place.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemoryJoinIndex, type JoinIndex } from '../../../pipeline/core/join';
import { createRedisJoinIndex } from '../../../pipeline/adapters/join-index';
import { testEnv, uniqueName } from '../../helpers/env';

const HORIZON = 600_000;
const redis = new Redis(testEnv.REDIS_URL!);
afterAll(() => redis.disconnect());

describe.each([
  { kind: 'in memory', make: (): JoinIndex => createMemoryJoinIndex(HORIZON) },
  {
    kind: 'in Redis',
    make: (): JoinIndex => createRedisJoinIndex(redis, HORIZON, `${uniqueName('join-test')}:`),
  },
])('join index $kind', ({ make }) => {
  it('finds a request for feedback within the horizon and not long past it', async () => {
    const index = make();
    const t = Date.now() - 3_600_000;
    await index.record([
      ['r-1', { segment: 'default', arm: 'a', ts: t }],
      ['r-2', { segment: 'default', arm: 'b', ts: t }],
    ]);
    const found = await index.lookup([
      { requestId: 'r-1', ts: t + HORIZON / 2 },
      { requestId: 'r-2', ts: t + 3 * HORIZON },
      { requestId: 'r-unknown', ts: t },
    ]);
    expect([...found]).toEqual([['r-1', { segment: 'default', arm: 'a', ts: t }]]);
  });

  it('answers with the latest place of an id recorded again', async () => {
    const index = make();
    const t = Date.now() - 60_000;
    await index.record([['r-1', { segment: 'default', arm: 'a', ts: t }]]);
    await index.record([['r-1', { segment: 'paid', arm: 'b', ts: t }]]);
    expect((await index.lookup([{ requestId: 'r-1', ts: t + 1_000 }])).get('r-1')).toEqual({
      segment: 'paid',
      arm: 'b',
      ts: t,
    });
  });
});
