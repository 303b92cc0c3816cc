/**
 * Telemetry out of the application's way: events go into a bounded buffer (the oldest are dropped, and
 * counted, when the server cannot keep up) and a background loop posts them in batches to
 * POST /v1/events, retrying transient failures with exponential backoff and full jitter. One batch is in
 * flight at a time, so a slow server slows the loop, never the application.
 */
import { OptimizerError } from './errors.js';
import { request, retryAfterMs, type HttpOptions } from './http.js';

/** A telemetry event as POST /v1/events takes it (see the server's OpenAPI document). */
export type TelemetryEvent = { type: string; id: string; timestamp: string; target: string } & Record<
  string,
  unknown
>;

export interface TelemetryOptions {
  flushIntervalMs: number;
  maxBatchSize: number;
  maxBufferSize: number;
  maxRetries: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

export interface TelemetryStats {
  /** Events the server accepted. */
  sent: number;
  /** Events the server rejected as invalid. */
  rejected: number;
  /** Events dropped: buffer overflow, or a batch that failed after all its retries. */
  dropped: number;
  /** Events waiting in the buffer. */
  buffered: number;
  /** Batches posted (first attempts and retries). */
  requests: number;
}

/** Status codes worth retrying: the server is busy or briefly unavailable. */
const RETRYABLE = new Set([408, 425, 429, 500, 502, 503, 504]);

export class TelemetryReporter {
  private buffer: TelemetryEvent[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private inflight: Promise<void> | undefined;
  private closed = false;
  readonly stats: TelemetryStats = { sent: 0, rejected: 0, dropped: 0, buffered: 0, requests: 0 };

  constructor(
    private readonly http: HttpOptions,
    private readonly opts: TelemetryOptions,
    private readonly report: (err: OptimizerError) => void,
  ) {}

  /** Never throws, never waits. */
  enqueue(event: TelemetryEvent): void {
    if (this.closed) return;
    this.buffer.push(event);
    if (this.buffer.length > this.opts.maxBufferSize) {
      const excess = this.buffer.length - this.opts.maxBufferSize;
      this.buffer.splice(0, excess);
      this.stats.dropped += excess;
      this.report(
        new OptimizerError('overflow', `telemetry buffer full: dropped ${excess} oldest event(s)`, {
          dropped: excess,
        }),
      );
    }
    this.stats.buffered = this.buffer.length;
    this.ensureTimer();
    if (this.buffer.length >= this.opts.maxBatchSize) this.kick();
  }

  /** Sends everything buffered now; resolves when the buffer is empty or its batches have failed. */
  async flush(): Promise<void> {
    while (this.inflight || this.buffer.length > 0) {
      if (!this.inflight) this.kick();
      await this.inflight;
    }
  }

  /** Stops the loop after sending what is buffered (bounded by `deadlineMs`). */
  async close(deadlineMs = 5_000): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    let timeout: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.flush(),
      new Promise<void>((resolve) => {
        timeout = setTimeout(resolve, deadlineMs);
      }),
    ]);
    clearTimeout(timeout);
    this.closed = true;
  }

  private ensureTimer(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => this.kick(), this.opts.flushIntervalMs);
    this.timer.unref?.();
  }

  private kick(): void {
    if (this.inflight || this.buffer.length === 0) return;
    const batch = this.buffer.splice(0, this.opts.maxBatchSize);
    this.stats.buffered = this.buffer.length;
    this.inflight = this.send(batch).finally(() => {
      this.inflight = undefined;
      // A full buffer drains batch after batch without waiting for the next tick.
      if (this.buffer.length >= this.opts.maxBatchSize) this.kick();
    });
  }

  private async send(batch: TelemetryEvent[]): Promise<void> {
    const body = JSON.stringify(batch);
    let lastError = '';
    for (let attempt = 0; attempt <= this.opts.maxRetries; attempt++) {
      let waitHint: number | undefined;
      try {
        this.stats.requests++;
        const res = await request(this.http, 'POST', 'v1/events', {
          headers: { 'content-type': 'application/json' },
          body,
        });
        if (res.ok) {
          this.accept(batch, await res.json().catch(() => undefined));
          return;
        }
        const detail = await res.text().catch(() => '');
        lastError = `HTTP ${res.status} ${detail.slice(0, 200)}`;
        if (!RETRYABLE.has(res.status)) {
          this.stats.dropped += batch.length;
          this.report(
            new OptimizerError('telemetry', `telemetry batch of ${batch.length} refused: ${lastError}`, {
              status: res.status,
              dropped: batch.length,
            }),
          );
          return;
        }
        waitHint = retryAfterMs(res);
      } catch (err) {
        lastError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      }
      if (attempt < this.opts.maxRetries) await sleep(waitHint ?? this.backoff(attempt));
    }
    this.stats.dropped += batch.length;
    this.report(
      new OptimizerError(
        'telemetry',
        `telemetry batch of ${batch.length} dropped after ${this.opts.maxRetries + 1} attempts: ${lastError}`,
        {
          dropped: batch.length,
        },
      ),
    );
  }

  /** "Full jitter" (uniform in [0, min(cap, base·2^attempt)]): retries of many clients do not align. */
  private backoff(attempt: number): number {
    return Math.random() * Math.min(this.opts.retryMaxMs, this.opts.retryBaseMs * 2 ** attempt);
  }

  private accept(batch: TelemetryEvent[], answer: unknown): void {
    const rejected = rejectedOf(answer);
    this.stats.rejected += rejected.length;
    this.stats.sent += batch.length - rejected.length;
    if (rejected.length > 0) {
      this.report(
        new OptimizerError('rejected', `server rejected ${rejected.length} of ${batch.length} event(s)`, {
          rejected,
        }),
      );
    }
  }
}

/** The rejected entries of an ingest answer, whichever of its documented shapes it has. */
function rejectedOf(answer: unknown): unknown[] {
  if (typeof answer !== 'object' || answer === null) return [];
  // POST /v1/events answers { accepted: n, rejected: n, errors: [{ index, id, errors: [{ path, message }] }] }.
  const a = answer as { rejected?: unknown; errors?: unknown };
  if (Array.isArray(a.errors)) return a.errors;
  if (Array.isArray(a.rejected)) return a.rejected;
  return [];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref?.();
  });
}
