/**
 * The invalidation bus: how one process tells every other that a cached value changed. With Redis it is
 * a pub/sub channel (every subscribed process gets each message within milliseconds); without Redis it
 * is PostgreSQL LISTEN/NOTIFY, which every process already reaches; a process alone (a test, a bench)
 * uses the in-process emitter.
 *
 * Pub/sub is fire-and-forget: a process whose subscriber connection drops misses what was published
 * meanwhile. So every reconnect is reported as `onResync`, and caches then drop their whole first tier
 * rather than serve a value whose invalidation they may have missed.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Logger } from '../../platform/logger';
import { redisOptions } from '../redis';

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

/**
 * The namespace of "drop everything": every cache of every process that hears it empties its first tier
 * (an operator's flush, POST /v1/admin/cache/flush). The key is ignored.
 */
export const FLUSH_ALL_NS = 'cache:flush-all';

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
 * What every bus between processes shares: local delivery (a process applies its own message at once),
 * messages from elsewhere parsed and checked, its own echoes dropped, resync listeners, and a publish
 * that never throws. A transport only sends a payload, and hands what it receives to `deliver`.
 */
function remoteBus(transport: {
  send(payload: string): Promise<void>;
  ready(): Promise<void>;
  close(): Promise<void>;
  logger?: Logger | undefined;
}): InvalidationBus & { deliver(raw: string | undefined): void; resync(): void } {
  const origin = randomUUID();
  const local = new EventEmitter();
  local.setMaxListeners(0);
  const resyncs = new Set<() => void>();
  return {
    deliver(raw) {
      try {
        const m = JSON.parse(raw ?? '') as Invalidation & { origin?: string };
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
    },
    resync() {
      transport.logger?.info('cache invalidation subscriber reconnected; dropping first-tier caches');
      for (const fn of resyncs) fn();
    },
    async publish(message) {
      local.emit(message.ns, message);
      try {
        await transport.send(JSON.stringify({ ...message, origin }));
      } catch (err) {
        transport.logger?.warn(
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
    ready: () => transport.ready(),
    close: () => transport.close(),
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
  // Publishing must not queue forever behind a dead Redis: fail fast and let TTLs bound the staleness.
  const pub = new Redis(opts.url, redisOptions('bus-publish'));
  const sub = new Redis(opts.url, {
    ...redisOptions('bus-subscribe'),
    connectionName: opts.name ?? 'llmopt-cache-bus',
  });
  pub.on('error', () => undefined);
  sub.on('error', (err: Error) =>
    opts.logger?.warn({ err: err.message }, 'cache invalidation subscriber error'),
  );
  let subscribedOnce = false;
  const subscribed = sub.subscribe(channel).then(() => {
    subscribedOnce = true;
  });
  subscribed.catch(() => undefined);
  const bus = remoteBus({
    logger: opts.logger,
    send: async (payload) => {
      await pub.publish(channel, payload);
    },
    ready: () => subscribed,
    close: async () => {
      await Promise.allSettled([pub.quit(), sub.quit()]);
    },
  });
  // ioredis resubscribes by itself after a reconnect; whatever was published in between is lost.
  sub.on('ready', () => {
    if (subscribedOnce) bus.resync();
  });
  sub.on('message', (ch: string, raw: string) => {
    if (ch === channel) bus.deliver(raw);
  });
  return bus;
}

/** The PostgreSQL channel of the bus without Redis (an identifier: no colons). */
export const PG_INVALIDATION_CHANNEL = 'llmopt_cache_invalidate';

/**
 * PostgreSQL LISTEN/NOTIFY bus, for processes that share a database but no Redis (`npm start` on its
 * defaults: the orchestration worker writes routing configs that the API serves from memory). One
 * dedicated connection listens and notifies; NOTIFY is delivered to every listener when it commits, in
 * the order of commits. Like pub/sub it is fire-and-forget, so a reconnect is reported as `onResync`.
 */
export function createPostgresBus(opts: {
  url: string;
  logger?: Logger;
  channel?: string;
  /** Delay before the first reconnect attempt; doubles up to 5 s. */
  retryMs?: number;
  /** application_name of the listening connection, to find it in pg_stat_activity. */
  applicationName?: string;
}): InvalidationBus {
  const channel = opts.channel ?? PG_INVALIDATION_CHANNEL;
  let client: pg.Client | null = null;
  let closed = false;
  let connectedOnce = false;
  let retryMs = opts.retryMs ?? 250;
  let queue: Promise<unknown> = Promise.resolve();
  const cannotConnect = (err: unknown) => {
    opts.logger?.warn(
      { err: err instanceof Error ? err.message : String(err) },
      'cache invalidation listener cannot connect; retrying',
    );
    scheduleReconnect();
  };

  async function connect(): Promise<void> {
    const c = new pg.Client({
      connectionString: opts.url,
      application_name: opts.applicationName ?? 'llmopt-cache-bus',
    });
    c.on('notification', (n) => {
      if (n.channel === channel) bus.deliver(n.payload);
    });
    c.on('error', (err) => opts.logger?.warn({ err: err.message }, 'cache invalidation listener error'));
    c.on('end', () => {
      if (client === c) client = null;
      if (!closed) scheduleReconnect();
    });
    await c.connect();
    await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    if (closed) {
      await c.end().catch(() => undefined);
      return;
    }
    client = c;
    retryMs = opts.retryMs ?? 250;
    if (connectedOnce) bus.resync();
    connectedOnce = true;
  }

  let reconnecting = false;
  function scheduleReconnect() {
    if (reconnecting || closed) return;
    reconnecting = true;
    const delay = retryMs;
    retryMs = Math.min(retryMs * 2, 5_000);
    setTimeout(() => {
      reconnecting = false;
      connect().catch(cannotConnect);
    }, delay).unref();
  }

  let first: Promise<void> = Promise.resolve();
  const bus = remoteBus({
    logger: opts.logger,
    async send(payload) {
      await first; // a process that writes at once after its start waits for its first connection
      const c = client;
      if (!c) throw new Error('the listening connection is reconnecting');
      // One query at a time on the connection (pg warns about queueing on a busy client).
      const sent = queue.then(() => c.query('SELECT pg_notify($1, $2)', [channel, payload]));
      queue = sent.catch(() => undefined);
      await sent;
    },
    ready: () => first,
    async close() {
      closed = true;
      const c = client;
      client = null;
      await c?.end().catch(() => undefined);
    },
  });
  first = connect().catch(cannotConnect);
  return bus;
}
