/**
 * GCRA (generic cell rate algorithm) over one stored timestamp per key: a rate (one cell per
 * `intervalMs`) with a burst tolerance, no window edges, and a request may cost several cells (an ingest
 * batch costs its events). With Redis the state is shared by every process through one atomic script
 * that reads Redis's own clock; without Redis, or while Redis fails, an in-process store answers so a
 * cache outage never turns into 5xx. The API's per-identity limits and the ingest per-source limits
 * both stand on it.
 */
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../../platform/logger';

export interface GcraLimit {
  /** Time one cell is worth: 1000 / cells per second. */
  intervalMs: number;
  /** How far ahead of now the theoretical arrival time may run: the burst, in time (burst × interval). */
  toleranceMs: number;
}

export interface GcraResult {
  allowed: boolean;
  /** Theoretical arrival time after the decision (epoch ms of the limiter's clock). */
  tat: number;
  /** The limiter's clock at the decision. */
  now: number;
  /** Milliseconds until the same request could be allowed (0 when allowed). */
  retryMs: number;
}

export interface Gcra {
  take(key: string, limit: GcraLimit, cost?: number): Promise<GcraResult>;
}

const FP_SLACK_MS = 1e-6;

/** Pure GCRA step: given the stored theoretical arrival time, the new one and the verdict. */
export function gcraStep(
  storedTat: number | undefined,
  nowMs: number,
  limit: GcraLimit,
  cost = 1,
): { allowed: boolean; tat: number; retryMs: number } {
  const tat = Math.max(storedTat ?? nowMs, nowMs);
  const next = tat + cost * limit.intervalMs;
  const allowAt = next - limit.toleranceMs;
  // Intervals such as 1000/31 ms are not exact in floating point: a request landing on its boundary
  // must not be refused for a rounding residue, so differences under a nanosecond count as zero.
  if (allowAt - nowMs > FP_SLACK_MS) return { allowed: false, tat, retryMs: allowAt - nowMs };
  return { allowed: true, tat: next, retryMs: 0 };
}

/** The in-process store, which can also answer at once (`takeNow`), with no promise in between. */
export interface MemoryGcra extends Gcra {
  takeNow(key: string, limit: GcraLimit, cost?: number): GcraResult;
}

export function createMemoryGcra(maxKeys = 100_000, now: () => number = Date.now): MemoryGcra {
  const tats = new LRUCache<string, number>({ max: maxKeys });
  function takeNow(key: string, limit: GcraLimit, cost = 1): GcraResult {
    const t = now();
    const step = gcraStep(tats.get(key), t, limit, cost);
    // Once the arrival time is in the past the key holds nothing a fresh one would not: let it go.
    if (step.allowed) tats.set(key, step.tat, { ttl: Math.ceil(step.tat - t) + 1000 });
    return { ...step, now: t };
  }
  return {
    takeNow,
    take: async (key, limit, cost) => takeNow(key, limit, cost),
  };
}

// gcraStep() atomically in Redis on Redis's clock (processes' clocks may differ). Times keep three
// decimals so that sub-millisecond intervals (high event rates) do not round away.
const GCRA_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local nxt = tat + cost * interval
local allow_at = nxt - tolerance
if allow_at > now then
  return {0, string.format('%.3f', tat), tostring(now), string.format('%.3f', allow_at - now)}
end
redis.call('SET', KEYS[1], string.format('%.3f', nxt), 'PX', math.ceil(nxt - now) + 1000)
return {1, string.format('%.3f', nxt), tostring(now), '0'}
`;

type GcraRedis = Redis & {
  llmoptGcraTake(
    key: string,
    interval: string,
    tolerance: string,
    cost: string,
  ): Promise<[number, string, string, string]>;
};

/** Shared through Redis; falls back to an in-process store (per process) while Redis fails. */
export function createRedisGcra(redis: Redis, opts: { logger?: Logger; keyPrefix: string }): Gcra {
  const r = redis as GcraRedis;
  if (typeof r.llmoptGcraTake !== 'function')
    r.defineCommand('llmoptGcraTake', { numberOfKeys: 1, lua: GCRA_LUA });
  const fallback = createMemoryGcra();
  let warned = 0;
  return {
    async take(key, limit, cost = 1) {
      try {
        const [ok, tat, now, retry] = await r.llmoptGcraTake(
          `${opts.keyPrefix}${key}`,
          String(limit.intervalMs),
          String(limit.toleranceMs),
          String(cost),
        );
        return { allowed: ok === 1, tat: Number(tat), now: Number(now), retryMs: Number(retry) };
      } catch (err) {
        if (Date.now() - warned > 60_000) {
          warned = Date.now();
          opts.logger?.warn({ err: String(err) }, 'shared rate limiter unavailable; limiting per process');
        }
        return fallback.take(key, limit, cost);
      }
    },
  };
}
