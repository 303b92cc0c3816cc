/**
 * Per-identity rate limiting with GCRA (generic cell rate algorithm): one timestamp per key, no window
 * edges, so a caller never gets twice its limit across a boundary as with fixed windows (the limiters
 * of rate-limiter-flexible are fixed windows, hence this small algorithm instead). With Redis the state
 * is shared by every API replica through one atomic script that reads Redis's own clock; without Redis,
 * or while Redis fails, an in-process limiter answers so a cache outage never turns into 5xx.
 */
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../../infra/logger';

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

/** Pure GCRA step: given the stored theoretical arrival time, the new one and the verdict. */
export function gcra(
  storedTat: number | undefined,
  nowMs: number,
  perMinute: number,
): { allowed: boolean; tat: number; retryMs: number } {
  const interval = WINDOW_MS / perMinute;
  const tat = Math.max(storedTat ?? nowMs, nowMs);
  const next = tat + interval;
  const allowAt = next - WINDOW_MS;
  if (allowAt > nowMs) return { allowed: false, tat, retryMs: allowAt - nowMs };
  return { allowed: true, tat: next, retryMs: 0 };
}

export function createMemoryRateLimiter(): RateLimiter {
  const tats = new LRUCache<string, number>({ max: 100_000, ttl: WINDOW_MS, ttlAutopurge: false });
  return {
    async consume(key, perMinute) {
      const now = Date.now();
      const step = gcra(tats.get(key), now, perMinute);
      if (step.allowed) tats.set(key, step.tat);
      return decide(step.allowed, perMinute, step.tat, now, step.retryMs);
    },
  };
}

// Same step as gcra() above, atomically in Redis on Redis's clock (replicas' clocks may differ).
const GCRA_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local nxt = tat + interval
local allow_at = nxt - window
if allow_at > now then
  return {0, tostring(tat), tostring(now), tostring(allow_at - now)}
end
redis.call('SET', KEYS[1], tostring(nxt), 'PX', math.ceil(nxt - now) + 1000)
return {1, tostring(nxt), tostring(now), '0'}
`;

type GcraRedis = Redis & {
  llmoptGcra(key: string, interval: string, window: string): Promise<[number, string, string, string]>;
};

export function createRedisRateLimiter(redis: Redis, logger: Logger, keyPrefix = 'llmopt:rl:'): RateLimiter {
  const r = redis as GcraRedis;
  if (typeof r.llmoptGcra !== 'function') r.defineCommand('llmoptGcra', { numberOfKeys: 1, lua: GCRA_LUA });
  const fallback = createMemoryRateLimiter();
  let warned = 0;
  return {
    async consume(key, perMinute) {
      try {
        const [ok, tat, now, retry] = await r.llmoptGcra(
          `${keyPrefix}${key}`,
          String(WINDOW_MS / perMinute),
          String(WINDOW_MS),
        );
        return decide(ok === 1, perMinute, Number(tat), Number(now), Number(retry));
      } catch (err) {
        if (Date.now() - warned > 60_000) {
          warned = Date.now();
          logger.warn({ err: String(err) }, 'shared rate limiter unavailable; limiting per process');
        }
        return fallback.consume(key, perMinute);
      }
    },
  };
}

/** IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers) plus the classic triplet. */
export function rateLimitHeaders(d: LimitDecision): Record<string, string> {
  return {
    'ratelimit-policy': `${d.limit};w=60`,
    ratelimit: `limit=${d.limit}, remaining=${d.remaining}, reset=${d.resetSeconds}`,
    'ratelimit-limit': String(d.limit),
    'ratelimit-remaining': String(d.remaining),
    'ratelimit-reset': String(d.resetSeconds),
  };
}
