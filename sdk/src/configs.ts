/**
 * Routing configs as the application sees them: fetched once, then refreshed in the background with
 * If-None-Match, so an unchanged config costs the server a 304 and the application nothing. A failed
 * refresh keeps the last known config: a slightly old routing is better than none.
 */
import { OptimizerError } from './errors.js';
import { request, type HttpOptions } from './http.js';
import type { Weights } from './routing.js';

/** The server's routing config (GET /v1/targets/{target}/config). */
export interface RoutingConfig {
  target: string;
  segment: string;
  version: number;
  weights: Weights;
  rollout_id: string | null;
  reason: string;
  created_at: string;
}

interface Entry {
  config?: RoutingConfig;
  etag?: string;
  fetchedAt: number;
  refreshing?: Promise<void>;
}

export class ConfigStore {
  private readonly entries = new Map<string, Entry>();
  private timer: ReturnType<typeof setInterval> | undefined;
  /** Counts of server answers, for tests and dashboards. */
  readonly counts = { fetched: 0, notModified: 0, failed: 0 };

  constructor(
    private readonly http: HttpOptions,
    private readonly refreshIntervalMs: number,
    private readonly report: (err: OptimizerError) => void,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.refreshAll(), this.refreshIntervalMs);
    // The SDK must never keep the application's process alive.
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The cached config; the first read of a target/segment waits for one fetch (bounded by the timeout). */
  async get(target: string, segment: string): Promise<RoutingConfig | undefined> {
    const key = `${target}/${segment}`;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { fetchedAt: 0 };
      this.entries.set(key, entry);
      this.start();
    }
    if (entry.config) return entry.config;
    await this.refresh(target, segment, entry);
    return entry.config;
  }

  /** The cached config without any I/O. */
  peek(target: string, segment: string): RoutingConfig | undefined {
    return this.entries.get(`${target}/${segment}`)?.config;
  }

  refreshAll(): Promise<void> {
    const all: Promise<void>[] = [];
    for (const [key, entry] of this.entries) {
      const slash = key.indexOf('/');
      all.push(this.refresh(key.slice(0, slash), key.slice(slash + 1), entry));
    }
    return Promise.all(all).then(() => undefined);
  }

  private refresh(target: string, segment: string, entry: Entry): Promise<void> {
    entry.refreshing ??= this.fetchOnce(target, segment, entry).finally(() => {
      entry.refreshing = undefined;
    });
    return entry.refreshing;
  }

  private async fetchOnce(target: string, segment: string, entry: Entry): Promise<void> {
    const path = `v1/targets/${encodeURIComponent(target)}/config?segment=${encodeURIComponent(segment)}`;
    try {
      const res = await request(this.http, 'GET', path, {
        headers: entry.etag ? { 'if-none-match': entry.etag } : {},
      });
      if (res.status === 304) {
        this.counts.notModified++;
        entry.fetchedAt = Date.now();
        await res.body?.cancel();
        return;
      }
      if (!res.ok) {
        const detail = await res.text().catch(() => '');
        throw new OptimizerError(
          'config',
          `GET config of ${target}/${segment}: HTTP ${res.status} ${detail.slice(0, 200)}`,
          {
            status: res.status,
            target,
            segment,
          },
        );
      }
      const config: unknown = await res.json();
      if (!isRoutingConfig(config)) {
        throw new OptimizerError(
          'config',
          `GET config of ${target}/${segment}: the answer is not a routing config`,
          { target, segment },
        );
      }
      // An older version can arrive after a newer one (two refreshes racing a replica that lags): keep the newer.
      // A lower version written later is a target deleted and created again (versions start over): take it.
      const held = entry.config;
      if (!held || config.version >= held.version || config.created_at > held.created_at) {
        entry.config = config;
        const etag = res.headers.get('etag');
        if (etag) entry.etag = etag;
      }
      entry.fetchedAt = Date.now();
      this.counts.fetched++;
    } catch (err) {
      this.counts.failed++;
      this.report(
        err instanceof OptimizerError
          ? err
          : new OptimizerError('config', `GET config of ${target}/${segment} failed: ${String(err)}`, {
              target,
              segment,
              cause: err,
            }),
      );
    }
  }
}

/** The shape the SDK relies on; anything else (a proxy's error page, a wrong base URL) is refused. */
function isRoutingConfig(v: unknown): v is RoutingConfig {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Partial<RoutingConfig>;
  return (
    typeof c.version === 'number' &&
    typeof c.weights === 'object' &&
    c.weights !== null &&
    Object.values(c.weights).every((w) => typeof w === 'number' && Number.isFinite(w))
  );
}
