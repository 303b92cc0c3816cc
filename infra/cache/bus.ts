/**
 * The invalidation bus: how one process tells every other that a cached value changed. With Redis it is
 * a pub/sub channel (every subscribed process gets each message within milliseconds); without Redis it
 * is an in-process emitter, which is enough because then there is only one process to tell.
 *
 * Pub/sub is fire-and-forget: a process whose subscriber connection drops misses what was published
 * meanwhile. So every reconnect is reported as `onResync`, and caches then drop their whole first tier
 * rather than serve a value whose invalidation they may have missed.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import type { Logger } from '../logger';

export interface Invalidation {
  /** Cache namespace, e.g. "routing-config". */
  ns: string;
  key: string;
  /** The version now current, for versioned values: a reader that already holds it keeps it. */
  version?: number;
}

export interface InvalidationBus {
  /** Tell every process (this one included) that `key` changed. Never throws: a lost message only delays. */
  publish(message: Invalidation): Promise<void>;
  /** Receive invalidations of a namespace; returns an unsubscribe function. */
  subscribe(ns: string, fn: (message: Invalidation) => void): () => void;
  /** Called after the bus may have missed messages (subscriber reconnected). */
  onResync(fn: () => void): () => void;
  /** Resolves once the subscription is active, so a test or a boot sequence can wait for it. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

export const INVALIDATION_CHANNEL = 'llmopt:cache:invalidate';

/** Single-process bus: synchronous delivery to local subscribers. */
export function createLocalBus(): InvalidationBus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    async publish(message) {
      emitter.emit(message.ns, message);
    },
    subscribe(ns, fn) {
      emitter.on(ns, fn);
      return () => emitter.off(ns, fn);
    },
    onResync: () => () => undefined,
    ready: async () => undefined,
    close: async () => undefined,
  };
}

/**
 * Redis pub/sub bus. Uses two connections because a subscribed Redis connection can issue nothing but
 * (un)subscribe commands.
 */
export function createRedisBus(opts: {
  url: string;
  logger?: Logger;
  channel?: string;
  /** Redis CLIENT name of the subscriber connection, to find it in CLIENT LIST. */
  name?: string;
}): InvalidationBus {
  const channel = opts.channel ?? INVALIDATION_CHANNEL;
  const origin = randomUUID();
  // Publishing must not queue forever behind a dead Redis: fail fast and let TTLs bound the staleness.
  const pub = new Redis(opts.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
  const sub = new Redis(opts.url, {
    maxRetriesPerRequest: null,
    connectionName: opts.name ?? 'llmopt-cache-bus',
  });
  pub.on('error', () => undefined);
  sub.on('error', (err: Error) =>
    opts.logger?.warn({ err: err.message }, 'cache invalidation subscriber error'),
  );

  const local = new EventEmitter();
  local.setMaxListeners(0);
  const resyncs = new Set<() => void>();
  let subscribedOnce = false;

  const subscribed = sub.subscribe(channel).then(() => {
    subscribedOnce = true;
  });
  subscribed.catch(() => undefined);
  // ioredis resubscribes by itself after a reconnect; whatever was published in between is lost.
  sub.on('ready', () => {
    if (!subscribedOnce) return;
    opts.logger?.info('cache invalidation subscriber reconnected; dropping first-tier caches');
    for (const fn of resyncs) fn();
  });
  sub.on('message', (ch: string, raw: string) => {
    if (ch !== channel) return;
    try {
      const m = JSON.parse(raw) as Invalidation & { origin?: string };
      if (typeof m.ns !== 'string' || typeof m.key !== 'string') return;
      // Our own messages were already applied synchronously by publish().
      if (m.origin === origin) return;
      local.emit(m.ns, {
        ns: m.ns,
        key: m.key,
        ...(typeof m.version === 'number' ? { version: m.version } : {}),
      });
    } catch {
      // A foreign or garbled message on our channel is not ours to act on.
    }
  });

  return {
    async publish(message) {
      local.emit(message.ns, message);
      try {
        await pub.publish(channel, JSON.stringify({ ...message, origin }));
      } catch (err) {
        opts.logger?.warn(
          { err: err instanceof Error ? err.message : String(err), ns: message.ns },
          'cache invalidation not published',
        );
      }
    },
    subscribe(ns, fn) {
      local.on(ns, fn);
      return () => local.off(ns, fn);
    },
    onResync(fn) {
      resyncs.add(fn);
      return () => resyncs.delete(fn);
    },
    ready: () => subscribed,
    async close() {
      await Promise.allSettled([pub.quit(), sub.quit()]);
    },
  };
}
