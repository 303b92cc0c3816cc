/**
 * A pure event-time window engine: tumbling, sliding and session windows (sessions merge when an event
 * bridges them), a watermark with bounded out-of-orderness, allowed lateness that updates windows
 * already fired, and too-late events reported to the caller (who counts and dead-letters them).
 * No clock, no I/O: the caller feeds event times and the engine's answers depend on nothing else, so a
 * replay of the same input gives the same windows.
 */

export type WindowSpec =
  | { kind: 'tumbling'; sizeMs: number }
  | { kind: 'sliding'; sizeMs: number; slideMs: number }
  | { kind: 'session'; gapMs: number };

export interface Span {
  /** Epoch ms, [start, end). */
  start: number;
  end: number;
}

export interface EngineOptions<A> {
  spec: WindowSpec;
  /** The watermark trails the largest event time seen by this much. */
  maxOutOfOrdernessMs: number;
  /** A window keeps accepting (late) events until the watermark passes its end by this much. */
  allowedLatenessMs: number;
  create(): A;
  /** Folds b into a and returns the result (sessions merge their accumulators). */
  merge(a: A, b: A): A;
  /**
   * Also track changed windows for a second reader with its own cadence (a hot copy published more
   * often than the windows are persisted): see takeHotChanged.
   */
  trackHot?: boolean;
}

export type Arrival = 'on_time' | 'late' | 'too_late';

export interface WindowState<A> extends Span {
  key: string;
  acc: A;
  /** The watermark passed the end once: later changes are updates of an emitted result. */
  fired: boolean;
}

export type Emission<A> =
  | { kind: 'fire' | 'update' | 'expire'; window: WindowState<A> }
  /** Sessions `from` were merged into `into` (their own results are superseded). */
  | { kind: 'merge'; into: WindowState<A>; from: Span[] };

/** Start of the tumbling/sliding window of `size` aligned to the epoch that contains ts. */
export const alignDown = (ts: number, step: number): number => Math.floor(ts / step) * step;

/** The windows (never sessions) an event time belongs to, oldest first. */
export function assignWindows(spec: Exclude<WindowSpec, { kind: 'session' }>, ts: number): Span[] {
  if (spec.kind === 'tumbling') {
    const start = alignDown(ts, spec.sizeMs);
    return [{ start, end: start + spec.sizeMs }];
  }
  const out: Span[] = [];
  const last = alignDown(ts, spec.slideMs);
  for (let start = last - spec.sizeMs + spec.slideMs; start <= last; start += spec.slideMs) {
    if (ts >= start && ts < start + spec.sizeMs) out.push({ start, end: start + spec.sizeMs });
  }
  return out;
}

export function validateSpec(spec: WindowSpec): void {
  const positive = (n: number, what: string) => {
    if (!Number.isFinite(n) || n <= 0) throw new RangeError(`${what} must be a positive number of ms`);
  };
  if (spec.kind === 'session') positive(spec.gapMs, 'gapMs');
  else positive(spec.sizeMs, 'sizeMs');
  if (spec.kind === 'sliding') {
    positive(spec.slideMs, 'slideMs');
    if (spec.slideMs > spec.sizeMs) throw new RangeError('slideMs cannot exceed sizeMs');
  }
}

export class WindowEngine<A> {
  private readonly windows = new Map<string, WindowState<A>[]>();
  private readonly dirty = new Set<WindowState<A>>();
  private readonly hot = new Set<WindowState<A>>();
  private emissions: Emission<A>[] = [];
  private maxTs = Number.NEGATIVE_INFINITY;
  private open = 0;
  /** Smallest watermark at which some window fires or expires: below it, advancing is a no-op. */
  private nextCheck = Number.POSITIVE_INFINITY;

  constructor(private readonly opts: EngineOptions<A>) {
    validateSpec(opts.spec);
  }

  /** Largest event time seen minus the bound on out-of-orderness; -Infinity before the first event. */
  get watermark(): number {
    return this.maxTs - this.opts.maxOutOfOrdernessMs;
  }

  get openWindows(): number {
    return this.open;
  }

  /** Resume from a stored watermark (after a restart) before restoring windows. */
  setWatermark(watermark: number | null): void {
    if (watermark !== null) this.maxTs = Math.max(this.maxTs, watermark + this.opts.maxOutOfOrdernessMs);
  }

  /** Whether an event at `ts` would still be accepted (a caller can check before doing any work). */
  arrival(ts: number): Arrival {
    const wm = this.watermark;
    const lastEnd = this.latestEndFor(ts);
    if (lastEnd + this.opts.allowedLatenessMs <= wm) return 'too_late';
    return ts < wm ? 'late' : 'on_time';
  }

  /**
   * Adds one event for `key` at event time `ts`: `apply` folds it into each window it belongs to. A
   * too-late event changes nothing. The watermark then advances, firing and expiring windows.
   */
  add(key: string, ts: number, apply: (acc: A) => void): Arrival {
    const arrival = this.arrival(ts);
    if (arrival === 'too_late') return arrival;
    const spec = this.opts.spec;
    if (spec.kind === 'session') this.addToSession(key, ts, apply);
    else
      for (const span of assignWindows(spec, ts)) {
        // A sliding window that already expired for this event is skipped; the newest one is still open.
        if (span.end + this.opts.allowedLatenessMs <= this.watermark) continue;
        const w = this.windowFor(key, span);
        apply(w.acc);
        this.touch(w);
      }
    if (ts > this.maxTs) {
      this.maxTs = ts;
      if (this.watermark >= this.nextCheck) this.advance();
    }
    return arrival;
  }

  /** Puts a stored window back (restart); it counts as fired when the watermark already passed it. */
  restore(key: string, span: Span, acc: A): void {
    const list = this.windows.get(key) ?? [];
    list.push({ key, start: span.start, end: span.end, acc, fired: span.end <= this.watermark });
    list.sort((a, b) => a.start - b.start);
    this.windows.set(key, list);
    this.open++;
    this.nextCheck = Math.min(this.nextCheck, span.end);
  }

  /** Windows changed since the last call (to persist), then forgotten as changed. */
  takeDirty(): WindowState<A>[] {
    const out = [...this.dirty];
    this.dirty.clear();
    return out;
  }

  /** Windows changed since the last call, for the second reader (empty unless `trackHot`). */
  takeHotChanged(): WindowState<A>[] {
    const out = [...this.hot];
    this.hot.clear();
    return out;
  }

  /** Marks a window changed again (a failed persist is retried whole); ignored once it expired. */
  markDirty(w: WindowState<A>): void {
    if (this.windows.get(w.key)?.includes(w)) this.dirty.add(w);
  }

  /** Fire/update/expire/merge notifications since the last call. */
  takeEmissions(): Emission<A>[] {
    const out = this.emissions;
    this.emissions = [];
    return out;
  }

  /** Every open window, for inspection and snapshots. */
  *all(): Iterable<WindowState<A>> {
    for (const list of this.windows.values()) yield* list;
  }

  private latestEndFor(ts: number): number {
    const spec = this.opts.spec;
    if (spec.kind === 'session') return ts + spec.gapMs;
    if (spec.kind === 'tumbling') return alignDown(ts, spec.sizeMs) + spec.sizeMs;
    return alignDown(ts, spec.slideMs) + spec.sizeMs;
  }

  private touch(w: WindowState<A>): void {
    this.dirty.add(w);
    if (this.opts.trackHot) this.hot.add(w);
    if (w.fired) this.emissions.push({ kind: 'update', window: w });
  }

  private windowFor(key: string, span: Span): WindowState<A> {
    let list = this.windows.get(key);
    if (!list) {
      list = [];
      this.windows.set(key, list);
    }
    for (const w of list) if (w.start === span.start && w.end === span.end) return w;
    const w: WindowState<A> = {
      key,
      start: span.start,
      end: span.end,
      acc: this.opts.create(),
      fired: false,
    };
    list.push(w);
    list.sort((a, b) => a.start - b.start);
    this.open++;
    this.nextCheck = Math.min(this.nextCheck, w.end);
    return w;
  }

  private addToSession(key: string, ts: number, apply: (acc: A) => void): void {
    const gap = (this.opts.spec as { gapMs: number }).gapMs;
    const list = this.windows.get(key) ?? [];
    this.windows.set(key, list);
    let start = ts;
    let end = ts + gap;
    // Every session the new event's [ts, ts + gap) touches joins it (an event can bridge two sessions).
    const touching = list.filter((w) => w.start <= end && w.end >= start);
    if (touching.length === 1 && touching[0]!.start <= start && touching[0]!.end >= end) {
      apply(touching[0]!.acc);
      this.touch(touching[0]!);
      return;
    }
    let acc = this.opts.create();
    let fired = false;
    for (const w of touching) {
      start = Math.min(start, w.start);
      end = Math.max(end, w.end);
      acc = this.opts.merge(acc, w.acc);
      fired ||= w.fired;
      this.dirty.delete(w);
      this.hot.delete(w);
      list.splice(list.indexOf(w), 1);
      this.open--;
    }
    apply(acc);
    const merged: WindowState<A> = { key, start, end, acc, fired };
    list.push(merged);
    list.sort((a, b) => a.start - b.start);
    this.open++;
    this.nextCheck = Math.min(this.nextCheck, fired ? end + this.opts.allowedLatenessMs : end);
    this.dirty.add(merged);
    if (this.opts.trackHot) this.hot.add(merged);
    if (touching.length > 0) {
      this.emissions.push({
        kind: 'merge',
        into: merged,
        from: touching.map((w) => ({ start: w.start, end: w.end })),
      });
    }
    if (fired) this.emissions.push({ kind: 'update', window: merged });
  }

  private advance(): void {
    const wm = this.watermark;
    let next = Number.POSITIVE_INFINITY;
    for (const [key, list] of this.windows) {
      for (let i = 0; i < list.length;) {
        const w = list[i]!;
        if (!w.fired && w.end <= wm) {
          w.fired = true;
          this.emissions.push({ kind: 'fire', window: w });
        }
        if (w.end + this.opts.allowedLatenessMs <= wm) {
          list.splice(i, 1);
          this.open--;
          this.emissions.push({ kind: 'expire', window: w });
          continue;
        }
        next = Math.min(next, w.fired ? w.end + this.opts.allowedLatenessMs : w.end);
        i++;
      }
      if (list.length === 0) this.windows.delete(key);
    }
    this.nextCheck = next;
  }
}
