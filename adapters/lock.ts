/**
 * A distributed lock for work that two processes must not both do (window flush ownership, retention
 * jobs), with fencing tokens.
 *
 * The guarantee, precisely:
 * - At most one lease per name is live in Redis at a time, and each lease gets a fencing token strictly
 *   greater than every token issued before for that name (an INCR in the same script as the SET NX).
 * - A lease lives `ttlMs` unless renewed; the holder renews every ttl/3 and its `signal` aborts as soon as
 *   a renewal is refused or the lease may have expired, so well-behaved holders stop in time.
 * - Timing alone cannot protect against a holder that is paused (GC, swap, a stopped VM) past its TTL and
 *   then writes. A write that must not happen twice therefore presents the token to the store that
 *   takes it, which refuses a token lower than one it has already seen; work that may safely run twice
 *   (retention deletes) needs only the lease.
 * - Tokens never go back even if Redis loses its data: the counter is raised to Redis's clock in
 *   milliseconds when it lags behind, so a fresh counter starts above every token issued before (as long
 *   as the Redis host's clock does not step back by more than the time since the last acquisition).
 *
 * Without REDIS_URL the lock is in-process: correct for one process, which is all that mode runs.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { AppError } from '../domain/errors';
import type { Logger } from '../platform/logger';

export interface Lease {
  name: string;
  /** Strictly greater than every token issued before for this name. */
  token: number;
  /** Aborted once the lease is lost or may have expired: stop the work and do not commit it. */
  signal: AbortSignal;
  /** Gives the lock back at once (otherwise it expires after its TTL). Never throws. */
  release(): Promise<void>;
}

export interface AcquireOptions {
  /** How long the lease lives without renewal. */
  ttlMs?: number;
  /** Renew in the background until released (default true). */
  autoRenew?: boolean;
}

export interface DistributedLock {
  /** The lease, or null when another holder has it. */
  tryAcquire(name: string, opts?: AcquireOptions): Promise<Lease | null>;
  /** Runs `fn` under the lease when it can be had; `acquired: false` when another process holds it. */
  withLock<T>(
    name: string,
    fn: (lease: Lease) => Promise<T>,
    opts?: AcquireOptions,
  ): Promise<{ acquired: true; value: T } | { acquired: false }>;
}

const DEFAULT_TTL_MS = 15_000;

// KEYS[1] lease, KEYS[2] fence counter; ARGV[1] owner id, ARGV[2] ttl ms. Returns the token or 0.
const ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local now = redis.call('TIME')
local floor = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local token = redis.call('INCR', KEYS[2])
if token < floor then
  token = floor
  redis.call('SET', KEYS[2], token)
end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', tonumber(ARGV[2]))
return token
`;
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2])) end
return 0
`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

function withLockOf(lock: Pick<DistributedLock, 'tryAcquire'>): DistributedLock['withLock'] {
  return async (name, fn, opts) => {
    const lease = await lock.tryAcquire(name, opts);
    if (!lease) return { acquired: false };
    try {
      return { acquired: true, value: await fn(lease) };
    } finally {
      await lease.release();
    }
  };
}

export function createRedisLock(
  redis: Redis,
  opts: { logger?: Logger; prefix?: string } = {},
): DistributedLock {
  const prefix = opts.prefix ?? 'llmopt:lock:';
  const lock: Pick<DistributedLock, 'tryAcquire'> = {
    async tryAcquire(name, acquireOpts = {}) {
      const ttl = acquireOpts.ttlMs ?? DEFAULT_TTL_MS;
      const owner = randomUUID();
      const leaseKey = `${prefix}${name}`;
      const started = Date.now();
      const token = Number(await redis.eval(ACQUIRE, 2, leaseKey, `${prefix}${name}:fence`, owner, ttl));
      if (!token) return null;
      const value = `${owner}:${token}`;
      const controller = new AbortController();
      // Counted from before the request: the lease cannot have started later than that.
      let validUntil = started + ttl;
      let timer: NodeJS.Timeout | undefined;
      const lose = (reason: string) => {
        if (controller.signal.aborted) return;
        clearInterval(timer);
        opts.logger?.warn({ lock: name, token, reason }, 'lease lost');
        controller.abort(
          new AppError('conflict', `lease of lock "${name}" lost: ${reason}`, { lock: name, token }),
        );
      };
      const expiry = () => {
        if (Date.now() >= validUntil) lose('not renewed within its TTL');
      };
      if (acquireOpts.autoRenew !== false) {
        timer = setInterval(
          () => {
            const at = Date.now();
            redis
              .eval(RENEW, 1, leaseKey, value, ttl)
              .then((ok) => (Number(ok) === 1 ? (validUntil = at + ttl) : lose('another holder has it')))
              .catch(() => expiry());
          },
          Math.max(50, Math.floor(ttl / 3)),
        );
        timer.unref();
      }
      const expiryTimer = setInterval(expiry, Math.max(50, Math.floor(ttl / 6)));
      expiryTimer.unref();
      return {
        name,
        token,
        signal: controller.signal,
        async release() {
          clearInterval(timer);
          clearInterval(expiryTimer);
          await redis.eval(RELEASE, 1, leaseKey, value).catch(() => undefined);
          if (!controller.signal.aborted)
            controller.abort(new AppError('conflict', `lease of lock "${name}" released`));
        },
      };
    },
  };
  return { ...lock, withLock: withLockOf(lock) };
}

/**
 * One process only: a set of held names. Tokens are clock-based microsecond counts so that they keep
 * rising across restarts, as a store that fences by token needs.
 */
export function createLocalLock(): DistributedLock {
  const held = new Set<string>();
  const tokens = new Map<string, number>();
  const lock: Pick<DistributedLock, 'tryAcquire'> = {
    async tryAcquire(name) {
      if (held.has(name)) return null;
      held.add(name);
      const token = Math.max((tokens.get(name) ?? 0) + 1, Date.now() * 1000);
      tokens.set(name, token);
      const controller = new AbortController();
      return {
        name,
        token,
        signal: controller.signal,
        async release() {
          if (controller.signal.aborted) return;
          held.delete(name);
          controller.abort(new AppError('conflict', `lease of lock "${name}" released`));
        },
      };
    },
  };
  return { ...lock, withLock: withLockOf(lock) };
}

export function createLock(redis: Redis | undefined, logger?: Logger): DistributedLock {
  return redis ? createRedisLock(redis, logger ? { logger } : {}) : createLocalLock();
}
