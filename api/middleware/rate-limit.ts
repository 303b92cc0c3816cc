/**
 * Per-identity rate limiting with GCRA (generic cell rate algorithm): one timestamp per key, no window
 * edges, so a caller never gets twice its limit across a boundary as with fixed windows (the limiters
 * of rate-limiter-flexible are fixed windows, hence this small algorithm instead). The algorithm and its
 * Redis script live in adapters/cache/gcra.ts (ingest limits use them too): shared by every API replica
 * through Redis, in-process without Redis or while Redis fails, so a cache outage never turns into 5xx.
 */
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { createMemoryGcra, createRedisGcra, type Gcra, type GcraLimit } from '../../adapters/cache/gcra';
import type { Logger } from '../../platform/logger';

export interface LimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the caller's full allowance is back. */
  resetSeconds: number;
  /** Seconds to wait before a retry can succeed (0 when allowed). */
  retryAfterSeconds: number;
}

export interface RateLimiter {
  consume(key: string, perMinute: number): Promise<LimitDecision>;
  /**
   * The same decision as `consume`, when it is an allowance this process can grant at once (a cell of
   * its lease, or the in-process store); undefined, having spent nothing, when the answer needs the
   * shared store or is a refusal. Lets a synchronous hot path spend a cell and leave every other case
   * to `consume`.
   */
  takeLocal(key: string, perMinute: number): LimitDecision | undefined;
}

const WINDOW_MS = 60_000;

function decide(
  allowed: boolean,
  perMinute: number,
  tatMs: number,
  nowMs: number,
  retryMs: number,
): LimitDecision {
  const interval = WINDOW_MS / perMinute;
  const used = Math.max(0, tatMs - nowMs);
  return {
    allowed,
    limit: perMinute,
    remaining: Math.max(0, Math.floor((WINDOW_MS - used) / interval)),
    resetSeconds: Math.ceil(used / 1000),
    retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil(retryMs / 1000)),
  };
}

const limitOf = (perMinute: number): GcraLimit => ({
  intervalMs: WINDOW_MS / perMinute,
  toleranceMs: WINDOW_MS,
});

/** Exact decisions, one store call each. */
function limiterOver(store: Gcra): Pick<RateLimiter, 'consume'> {
  return {
    async consume(key, perMinute) {
      const r = await store.take(key, limitOf(perMinute));
      return decide(r.allowed, perMinute, r.tat, r.now, r.retryMs);
    },
  };
}

export function createMemoryRateLimiter(): RateLimiter {
  const store = createMemoryGcra();
  return {
    ...limiterOver(store),
    takeLocal(key, perMinute) {
      // A refusal stores nothing (gcraStep), so declining it here leaves `consume` the same answer.
      const r = store.takeNow(key, limitOf(perMinute));
      return r.allowed ? decide(true, perMinute, r.tat, r.now, 0) : undefined;
    },
  };
}

/**
 * Local token pre-allocation over a shared GCRA store. A Redis round trip per request would cost more
 * than the hottest route itself, so a replica takes a lease of `batch` cells from the shared allowance in
 * one call and spends it locally for at most `LEASE_MS`; what is left then is dropped, never returned.
 * Every cell is debited from the shared state before it is spent, so replicas still share one allowance.
 * When a quarter of a lease is left, the next lease is asked for in the background and added to it, so a
 * steady caller spends cells that are already here instead of waiting for a round trip each lease.
 *
 * Bounds, with R replicas, b = leaseSize(limit) (1 % of the per-minute limit, at most 1,000, and 1 --
 * exact, one round trip per request -- below 600 a minute) and q = ⌊b / 4⌋ (the renewal point):
 * - in any 60 s window a caller is served at most limit + R × (b + q) requests (cells debited up to
 *   LEASE_MS before the window and spent inside it);
 * - a caller may be refused while other replicas still hold up to b + q − 1 unspent cells each, so it can
 *   get as few as limit − R × (b + q) in a window;
 * - when a lease of b is no longer available the replica asks for a single cell, so near the limit the
 *   decisions are the shared ones, request by request. A refusal is remembered until its retry time (at
 *   most one second): nothing can give cells back before then, so that is exact too.
 * The RateLimit headers of a leased answer add the cells still held locally to the shared remainder.
 */
export const LEASE_MS = 1_000;

export function leaseSize(perMinute: number): number {
  if (perMinute < 600) return 1;
  return Math.min(1_000, Math.floor(perMinute / 100));
}

/** Cells left in a lease when the next one is asked for ahead of need. */
export const renewalPoint = (perMinute: number) => Math.floor(leaseSize(perMinute) / 4);

interface Lease {
  perMinute: number;
  cells: number;
  /** The shared store refused a renewal: this lease runs out, and the refill at zero decides. */
  renewalRefused?: boolean;
  /** Shared state right after the lease was taken, to derive the headers. */
  tat: number;
  sharedNow: number;
  takenAt: number;
}

interface Refusal {
  perMinute: number;
  until: number;
  tat: number;
  sharedNow: number;
  takenAt: number;
}

export function createLeasingRateLimiter(store: Gcra, maxKeys = 100_000): RateLimiter {
  const leases = new LRUCache<string, Lease>({ max: maxKeys, ttl: LEASE_MS });
  const refusals = new LRUCache<string, Refusal>({ max: maxKeys, ttl: LEASE_MS });
  // One shared-store call per key at a time, a refill or a renewal: later callers wait for it.
  const inflight = new Map<string, Promise<unknown>>();
  const exact = limiterOver(store);

  function track(key: string, p: Promise<unknown>): void {
    inflight.set(key, p);
    p.finally(() => {
      if (inflight.get(key) === p) inflight.delete(key);
    }).catch(() => undefined);
  }

  /** The next lease, asked for while this one still has `renewalPoint` cells; added to it when granted. */
  function renew(key: string, lease: Lease): void {
    const { perMinute } = lease;
    const size = leaseSize(perMinute);
    const takenAt = Date.now();
    const p = store.take(key, limitOf(perMinute), size).then((r) => {
      if (!r.allowed) {
        lease.renewalRefused = true;
        return;
      }
      const held = leases.get(key);
      const base = held && held.perMinute === perMinute ? held : { perMinute, cells: 0 };
      // Set again: the lease lives LEASE_MS from its newest debit.
      leases.set(key, { perMinute, cells: base.cells + size, tat: r.tat, sharedNow: r.now, takenAt });
    });
    track(key, p);
  }

  function leased(key: string, perMinute: number, now: number): LimitDecision | undefined {
    const lease = leases.get(key);
    if (!lease || lease.perMinute !== perMinute || lease.cells <= 0) return undefined;
    lease.cells--;
    if (lease.cells <= renewalPoint(perMinute) && !lease.renewalRefused && !inflight.has(key))
      renew(key, lease);
    const d = decide(true, perMinute, lease.tat, lease.sharedNow + (now - lease.takenAt), 0);
    d.remaining = Math.min(perMinute, d.remaining + lease.cells);
    return d;
  }

  function local(key: string, perMinute: number): LimitDecision | undefined {
    const now = Date.now();
    const allowed = leased(key, perMinute, now);
    if (allowed) return allowed;
    const refused = refusals.get(key);
    if (refused && refused.perMinute === perMinute && refused.until > now) {
      const elapsed = now - refused.takenAt;
      return decide(false, perMinute, refused.tat, refused.sharedNow + elapsed, refused.until - now);
    }
    return undefined;
  }

  async function refill(key: string, perMinute: number): Promise<LimitDecision> {
    const limit = limitOf(perMinute);
    const size = leaseSize(perMinute);
    const takenAt = Date.now();
    let r = await store.take(key, limit, size);
    let cells = size - 1;
    if (!r.allowed && size > 1) {
      r = await store.take(key, limit, 1);
      cells = 0;
    }
    if (r.allowed) {
      leases.set(key, { perMinute, cells, tat: r.tat, sharedNow: r.now, takenAt });
    } else {
      leases.delete(key);
      const wait = Math.min(r.retryMs, LEASE_MS);
      refusals.set(key, { perMinute, until: takenAt + wait, tat: r.tat, sharedNow: r.now, takenAt });
    }
    const d = decide(r.allowed, perMinute, r.tat, r.now, r.retryMs);
    // As every leased answer does: the cells just taken and still held here are the caller's too.
    if (r.allowed) d.remaining = Math.min(perMinute, d.remaining + cells);
    return d;
  }

  return {
    // Below 600 a minute every decision is the shared store's: nothing is local.
    takeLocal: (key, perMinute) =>
      leaseSize(perMinute) === 1 ? undefined : leased(key, perMinute, Date.now()),
    async consume(key, perMinute) {
      if (leaseSize(perMinute) === 1) return exact.consume(key, perMinute);
      for (;;) {
        const answer = local(key, perMinute);
        if (answer) return answer;
        // One lease request per key at a time: concurrent requests wait for it, then spend from it.
        const pending = inflight.get(key);
        if (pending) {
          await pending.catch(() => undefined);
          continue;
        }
        const p = refill(key, perMinute);
        track(key, p);
        return await p;
      }
    },
  };
}

export function createRedisRateLimiter(redis: Redis, logger: Logger, keyPrefix = 'llmopt:rl:'): RateLimiter {
  return createLeasingRateLimiter(createRedisGcra(redis, { logger, keyPrefix }));
}

/** IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers) plus the classic triplet. */
export type RateLimitFields = {
  'ratelimit-policy': string;
  ratelimit: string;
  'ratelimit-limit': string;
  'ratelimit-remaining': string;
  'ratelimit-reset': string;
};

export function rateLimitHeaders(d: LimitDecision): RateLimitFields {
  return {
    'ratelimit-policy': `${d.limit};w=60`,
    ratelimit: `limit=${d.limit}, remaining=${d.remaining}, reset=${d.resetSeconds}`,
    'ratelimit-limit': String(d.limit),
    'ratelimit-remaining': String(d.remaining),
    'ratelimit-reset': String(d.resetSeconds),
  };
}
