/** The distributed lock over real Redis, two clients standing in for two processes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createLocalLock, createRedisLock, type DistributedLock } from '../../adapters/lock';
import { eventually, testEnv, uniqueName } from '../helpers/env';

let r1: Redis;
let r2: Redis;
let one: DistributedLock;
let two: DistributedLock;

beforeAll(() => {
  r1 = new Redis(testEnv.REDIS_URL!);
  r2 = new Redis(testEnv.REDIS_URL!);
  one = createRedisLock(r1);
  two = createRedisLock(r2);
});
afterAll(async () => {
  await Promise.all([r1?.quit(), r2?.quit()]);
});

describe('distributed lock', () => {
  it('gives a name to one holder at a time, with rising fencing tokens', async () => {
    const name = uniqueName('flush');
    const a = await one.tryAcquire(name);
    expect(a).not.toBeNull();
    expect(await two.tryAcquire(name)).toBeNull();
    await a!.release();
    expect(a!.signal.aborted).toBe(true);
    const b = await two.tryAcquire(name);
    expect(b).not.toBeNull();
    expect(b!.token).toBeGreaterThan(a!.token);
    await b!.release();
    const c = await one.tryAcquire(name);
    expect(c!.token).toBeGreaterThan(b!.token);
    await c!.release();
  });

  it('never runs two holders of one name at once across contending clients', async () => {
    const name = uniqueName('retention');
    let running = 0;
    let maxRunning = 0;
    let done = 0;
    const tokens: number[] = [];
    const worker = async (lock: DistributedLock) => {
      while (done < 20) {
        await lock.withLock(name, async (lease) => {
          running++;
          maxRunning = Math.max(maxRunning, running);
          tokens.push(lease.token);
          await new Promise((r) => setImmediate(r));
          running--;
          done++;
        });
        await new Promise((r) => setImmediate(r));
      }
    };
    await Promise.all([worker(one), worker(two), worker(one), worker(two)]);
    expect(maxRunning).toBe(1);
    expect(tokens.length).toBeGreaterThanOrEqual(20);
    expect([...tokens].sort((x, y) => x - y)).toEqual(tokens);
    expect(new Set(tokens).size).toBe(tokens.length);
  });

  it('keeps a renewed lease past its TTL and hands over one that expired', async () => {
    const name = uniqueName('renew');
    const kept = await one.tryAcquire(name, { ttlMs: 300 });
    // Watch Redis: each renewal pushes the lease's remaining time back up. Four renewals outlast the TTL.
    let renewals = 0;
    let last = Infinity;
    await eventually(
      async () => {
        const left = await r2.pttl(`llmopt:lock:${name}`);
        if (left > last) renewals++;
        last = left;
        return renewals >= 4;
      },
      { intervalMs: 15, what: 'four renewals' },
    );
    expect(await two.tryAcquire(name, { ttlMs: 300 })).toBeNull();
    expect(kept!.signal.aborted).toBe(false);
    await kept!.release();

    const stalled = await one.tryAcquire(name, { ttlMs: 200, autoRenew: false });
    const next = await eventually(() => two.tryAcquire(name), {
      intervalMs: 20,
      what: 'the expired lease to be taken over',
    });
    expect(next.token).toBeGreaterThan(stalled!.token);
    await eventually(async () => stalled!.signal.aborted, {
      what: 'the stalled holder to learn it lost the lease',
    });
    await next.release();
  });

  it('falls back to an in-process lock with the same contract', async () => {
    const lock = createLocalLock();
    const a = await lock.tryAcquire('x');
    expect(await lock.tryAcquire('x')).toBeNull();
    await a!.release();
    const b = await lock.tryAcquire('x');
    expect(b!.token).toBeGreaterThan(a!.token);
    await b!.release();
    expect(await lock.withLock('x', async () => 42)).toEqual({ acquired: true, value: 42 });
  });
});
