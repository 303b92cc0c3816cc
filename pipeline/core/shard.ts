/**
 * One ingest shard (a WAL, a Kafka partition): dedup → feedback join → event-time windows → whole-row
 * upserts with the shard's checkpoint in one transaction. A shard has one owner at a time (epoch
 * fencing in PostgreSQL); its state after a restart is exactly what the last commit stored.
 */
import type {
  LlmRequestEvent,
  TelemetryEvent,
  UserFeedbackEvent,
  EvalResultEvent,
} from '../../domain/events';
import { isStorableValue, TelemetryEvent as TelemetryEventSchema, UNASSIGNED_ARM } from '../../domain/events';
import type { PriceBook } from '../../domain/pricing';
import {
  addFeedback,
  addQuality,
  addRequest,
  cloneState,
  emptyState,
  mergeInto,
  type AggregateState,
} from './windowing/aggregate-state';
import { alignDown, WindowEngine } from './windowing/engine';
import type {
  AggregatesPublisher,
  Checkpoint,
  ClaimedShard,
  DeadLetter,
  PendingJoin,
  PendingJoinChanges,
  ShardStore,
  ShardWindow,
} from './ports';
import type { Dedup } from './dedup';
import type { JoinEntry, JoinIndex } from './join';

export interface IngestRecord {
  offset: number;
  /** Null for a consumed offset that carries no event (a dead-lettered message). */
  event: TelemetryEvent | null;
  /** Event time, epoch ms. */
  ts: number;
  /** Why an offset without an event was set aside: stored with the commit that passes it. */
  deadLetter?: Omit<DeadLetter, 'offset'>;
}

type EventRecord = IngestRecord & { event: TelemetryEvent };

export interface ShardConfig {
  /** Width of the stored base windows. */
  windowMs: number;
  maxOutOfOrdernessMs: number;
  allowedLatenessMs: number;
  /** How long (event time) a request stays joinable by its request_id for feedback and evals. */
  joinHorizonMs: number;
  /** Upper bound on remembered requests for the join (memory), oldest forgotten first. */
  joinMaxEntries: number;
  /** How often (processing time) open windows that changed are published hot; default 250 ms. */
  hotIntervalMs?: number;
}

export interface TooLate {
  offset: number;
  event: TelemetryEvent;
  watermark: number;
}

export interface ShardDeps {
  repo: ShardStore;
  dedup: Dedup;
  prices: () => PriceBook;
  /** Kafka mode: dead-letter too-late events to the DLQ topic before the commit that skips them. */
  deadLetter?: (records: TooLate[]) => Promise<void>;
  /** The join index shared by every process (Redis): feedback finds requests another run counted. */
  joins?: JoinIndex;
  /** Hot open windows and cache invalidation for readers (pipeline/adapters/aggregates-cache.ts). */
  aggregates?: AggregatesPublisher;
  /** Reports a failed hot publication (it is retried with the next change, never blocks ingest). */
  onHotError?: (err: unknown) => void;
  /** The dead letters a commit stored (metrics, logs). */
  onDeadLetters?: (letters: readonly DeadLetter[]) => void;
  /** Told of each claim and each commit (platform/stage-metrics.ts shardMetrics). */
  observer?: ShardObserver;
}

/** What a shard reports for /metrics: counts are of committed work, so a rewind never counts twice. */
export interface ShardObserver {
  claimed(shard: string): void;
  committed(report: {
    shard: string;
    seconds: number;
    events: number;
    duplicates: number;
    late: number;
    tooLate: number;
    watermark: number | null;
  }): void;
  commitFailed(shard: string): void;
}

/**
 * PostgreSQL refused a value (class 22, data exception: NUL or invalid text, bad JSON; 54000, a value
 * past a limit), as opposed to the connection or the server failing: the same commit fails every time.
 */
export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (/^22[0-9A-Z]{3}$/.test(code) || code === '54000');
}

type FlushResult = { committed: number; windows: number };

const SEP = '\u0000';
/** How often, and for how many requests at most, waiting feedback asks the shared join index again. */
const REJOIN_INTERVAL_MS = 1_000;
const REJOIN_BATCH = 10_000;

type Joined = JoinEntry;
type Window = ReturnType<WindowEngine<AggregateState>['takeDirty']>[number];

type Attached = UserFeedbackEvent | (EvalResultEvent & { request_id: string });

interface Waiting {
  ts: number;
  offset: number;
  event: Attached;
}

export class ShardProcessor {
  private engine!: WindowEngine<AggregateState>;
  private epoch = 0;
  private checkpoint: Checkpoint = { nextOffset: 0, watermark: null, events: 0, duplicates: 0, tooLate: 0 };
  private readonly requests = new Map<string, Joined>();
  /**
   * Feedback and evals waiting for their request (they may arrive first), by request_id. Durable: a
   * commit stores those its offset passes and drops those resolved since (ingest_pending_joins), and
   * open() loads them back, so a crash neither loses nor doubles one.
   */
  private readonly pending = new Map<string, Waiting[]>();
  /** Event ids of `pending`: a resend of a waiting event is a duplicate whatever the dedup store says. */
  private readonly pendingIds = new Set<string>();
  /** Waiting events since the last commit: to store (entry) or to drop (null), by event id. */
  private pendingOut = new Map<string, PendingJoin | null>();
  private deadLetters: DeadLetter[] = [];
  private tooLateOut: TooLate[] = [];
  private uncommitted = 0;
  /** Late events (behind the watermark, within the lateness bound) counted since the last commit. */
  private late = 0;
  /** The counters of the last commit, from which each commit's report counts. */
  private reported: Pick<Checkpoint, 'events' | 'duplicates' | 'tooLate'> = {
    events: 0,
    duplicates: 0,
    tooLate: 0,
  };
  /** Requests remembered since the last commit, for the shared join index. */
  private joinOut: [string, Joined][] = [];
  /** Requests found in the shared join index for the batch being processed. */
  private remote: Map<string, Joined> | undefined;
  /** Windows of a failed commit (expired ones included): the next commit writes them again. */
  private retry: Window[] = [];
  /** Windows finalized since the last successful commit: their hot copies go once it succeeds. */
  private finalized: Window[] = [];
  private lastHot = 0;
  private lastRejoin = 0;
  private hotInflight: Promise<void> | undefined;
  /** Records processed since the last commit: what a commit refused for an event's content redoes. */
  private unflushed: IngestRecord[] = [];
  /** The state in memory is not the last commit plus `unflushed` (an isolation was cut short). */
  private stale = false;
  /**
   * An isolation in progress (it never rejects): processing and flushing wait for it, so a caller that
   * gave up on a long flush (a breaker's timeout) cannot interleave with it.
   */
  private isolation: Promise<void> | undefined;

  constructor(
    readonly shard: string,
    private readonly config: ShardConfig,
    private readonly deps: ShardDeps,
  ) {}

  /** Claims the shard and restores its open windows; returns the offset to read from. */
  async open(): Promise<number> {
    const claimed = await this.deps.repo.claim(this.shard);
    this.epoch = claimed.epoch;
    await this.restore(claimed);
    this.unflushed = [];
    this.stale = false;
    this.deps.observer?.claimed(this.shard);
    return claimed.nextOffset;
  }

  /** Back to the last commit, keeping the epoch; what was processed since is forgotten. */
  private async rewind(): Promise<void> {
    const claimed = await this.deps.repo.resume(this.shard, this.epoch);
    // Requests of the forgotten records are remembered again when (and if) they are counted again.
    for (const r of this.unflushed)
      if (r.event?.type === 'llm.request') this.requests.delete(r.event.request_id);
    await this.restore(claimed);
    this.retry = [];
    this.deadLetters = [];
    this.tooLateOut = [];
    this.joinOut = [];
    this.uncommitted = 0;
  }

  /** The windows, watermark and waiting feedback as of `claimed`, the shard's last commit. */
  private async restore(claimed: ClaimedShard): Promise<void> {
    this.checkpoint = {
      nextOffset: claimed.nextOffset,
      watermark: claimed.watermark,
      events: claimed.events,
      duplicates: claimed.duplicates,
      tooLate: claimed.tooLate,
    };
    this.reported = { events: claimed.events, duplicates: claimed.duplicates, tooLate: claimed.tooLate };
    this.late = 0;
    this.engine = new WindowEngine<AggregateState>({
      spec: { kind: 'tumbling', sizeMs: this.config.windowMs },
      maxOutOfOrdernessMs: this.config.maxOutOfOrdernessMs,
      allowedLatenessMs: this.config.allowedLatenessMs,
      create: emptyState,
      merge: mergeInto,
      trackHot: this.deps.aggregates !== undefined,
    });
    this.engine.setWatermark(claimed.watermark);
    if (claimed.watermark !== null) {
      const rows = await this.deps.repo.loadShard(
        this.shard,
        claimed.watermark - this.config.allowedLatenessMs,
      );
      for (const r of rows) this.engine.restore(r.target + SEP + r.segment + SEP + r.arm, r, r.state);
    }
    this.pending.clear();
    this.pendingIds.clear();
    this.pendingOut = new Map();
    for (const p of await this.deps.repo.loadPendingJoins(this.shard)) {
      const event = TelemetryEventSchema.safeParse(p.event);
      if (!event.success || !isAttached(event.data) || event.data.id !== p.eventId)
        throw new Error(
          `shard ${this.shard}: stored pending join ${p.eventId} is not a feedback or eval event`,
        );
      this.hold({ ts: p.ts, offset: p.offset, event: event.data });
    }
  }

  get nextOffset(): number {
    return this.checkpoint.nextOffset;
  }

  get watermark(): number | null {
    return this.checkpoint.watermark;
  }

  get stats(): Readonly<Checkpoint> & { openWindows: number; uncommitted: number } {
    return { ...this.checkpoint, openWindows: this.engine.openWindows, uncommitted: this.uncommitted };
  }

  /** Records must come in offset order; records below nextOffset (already reflected) are skipped. */
  async process(records: readonly IngestRecord[]): Promise<void> {
    await this.isolation;
    return this.processNow(records);
  }

  private async processNow(records: readonly IngestRecord[]): Promise<void> {
    const fresh = records.filter((r) => r.offset >= this.checkpoint.nextOffset);
    if (fresh.length === 0) return;
    const events = fresh.filter((r): r is EventRecord => r.event !== null);
    for (const r of fresh)
      if (r.event === null && r.deadLetter) this.deadLetters.push({ offset: r.offset, ...r.deadLetter });
    const [first, remote, rejoined] = await Promise.all([
      this.deps.dedup.firstSeen(
        this.shard,
        events.map((r) => ({ id: r.event.id, offset: r.offset })),
      ),
      this.lookupJoins(events),
      this.lookupWaiting(),
    ]);
    const prices = this.deps.prices();
    if (rejoined) this.attachFound(rejoined);
    this.remote = remote;
    try {
      for (let i = 0; i < events.length; i++) {
        const r = events[i]!;
        if (!first[i] || this.pendingIds.has(r.event.id)) this.checkpoint.duplicates++;
        else this.apply(r, prices);
      }
    } finally {
      this.remote = undefined;
    }
    this.checkpoint.nextOffset = fresh.at(-1)!.offset + 1;
    this.uncommitted += fresh.length;
    for (const r of fresh) this.unflushed.push(r);
    const wm = this.engine.watermark;
    this.checkpoint.watermark = Number.isFinite(wm) ? wm : null;
    this.publishHot();
  }

  /** Feedback and evals without an arm whose request this run has not seen: ask the shared index. */
  private async lookupJoins(events: readonly EventRecord[]): Promise<Map<string, Joined> | undefined> {
    if (!this.deps.joins) return undefined;
    const wanted: { requestId: string; ts: number }[] = [];
    for (const r of events) {
      const e = r.event;
      if (e.type !== 'user.feedback' && e.type !== 'eval.result') continue;
      if (e.request_id === undefined || e.arm !== undefined || this.requests.has(e.request_id)) continue;
      wanted.push({ requestId: e.request_id, ts: r.ts });
    }
    return wanted.length > 0 ? this.deps.joins.lookup(wanted) : undefined;
  }

  /**
   * Waiting feedback whose request another shard counted (another API worker or replica took it): asked
   * of the shared index at most once a second, the oldest first, so it joins its arm instead of
   * falling to `unassigned` when the lateness bound passes.
   */
  private async lookupWaiting(force = false): Promise<Map<string, Joined> | undefined> {
    if (!this.deps.joins || this.pending.size === 0) return undefined;
    if (!force && Date.now() - this.lastRejoin < REJOIN_INTERVAL_MS) return undefined;
    this.lastRejoin = Date.now();
    const wanted: { requestId: string; ts: number }[] = [];
    for (const [requestId, list] of this.pending) {
      wanted.push({ requestId, ts: list[0]!.ts });
      if (!force && wanted.length >= REJOIN_BATCH) break;
    }
    return this.deps.joins.lookup(wanted);
  }

  /** Joins the feedback waiting for `requestId` to `to`; returns how many events waited. */
  private joinWaiting(requestId: string, to: Joined, offset?: number): number {
    const waiting = this.pending.get(requestId);
    if (!waiting) return 0;
    this.pending.delete(requestId);
    for (const p of waiting) {
      this.release(p);
      this.attach(offset ?? p.offset, p.ts, p.event, to);
    }
    return waiting.length;
  }

  private attachFound(found: ReadonlyMap<string, Joined>): number {
    let joined = 0;
    for (const [requestId, to] of found) joined += this.joinWaiting(requestId, to);
    return joined;
  }

  /**
   * Ends the wait of every held feedback (a retired shard that no traffic will reach again): those whose
   * request the shared index knows join its arm, the rest count as `unassigned`, as they would have
   * when the lateness bound passed. The next flush stores the outcome.
   */
  async settleWaiting(): Promise<number> {
    const found = await this.lookupWaiting(true);
    let settled = found ? this.attachFound(found) : 0;
    for (const list of this.pending.values()) {
      for (const p of list) {
        this.release(p);
        this.attach(p.offset, p.ts, p.event, { segment: p.event.segment, arm: UNASSIGNED_ARM, ts: p.ts });
        settled++;
      }
    }
    this.pending.clear();
    return settled;
  }

  get waiting(): number {
    return this.pendingIds.size;
  }

  /** On a short cadence, the open windows changed since the last publication go to the hot tier. */
  private publishHot(): void {
    const hot = this.deps.aggregates;
    const interval = this.config.hotIntervalMs ?? 250;
    if (!hot || this.hotInflight || Date.now() - this.lastHot < interval) return;
    const changed = this.engine.takeHotChanged();
    if (changed.length === 0) return;
    this.lastHot = Date.now();
    // publishHot encodes the states before its first await, so later events do not leak into it.
    this.hotInflight = hot
      .publishHot(this.shard, this.checkpoint.nextOffset, changed.map(toShardWindow))
      .catch((err: unknown) => this.deps.onHotError?.(err))
      .finally(() => (this.hotInflight = undefined));
  }

  /**
   * Persists changed windows and the checkpoint; then the offsets up to nextOffset are durable. A commit
   * PostgreSQL refuses for what an event carries does not hold the shard: see isolate.
   */
  async flush(): Promise<FlushResult> {
    await this.isolation;
    if (this.stale) await this.redo();
    try {
      return await this.commit();
    } catch (err) {
      if (!isDataError(err)) throw err;
      const run = this.isolate();
      const done = run.then(
        () => undefined,
        () => undefined,
      );
      this.isolation = done;
      void done.then(() => {
        if (this.isolation === done) this.isolation = undefined;
      });
      return run;
    }
  }

  /** Rewinds to the last commit and processes every record since again. */
  private async redo(): Promise<void> {
    const records = this.unflushed;
    this.stale = true;
    await this.rewind();
    this.unflushed = [];
    try {
      await this.processNow(records);
    } catch (err) {
      this.unflushed = records;
      throw err;
    }
    this.stale = false;
  }

  /**
   * Finds the events a commit failed for: back to the last commit, events whose text cannot be stored
   * (isStorableValue) set aside at once, then the records since the last commit processed and committed
   * in halves, a half that fails again split further, down to the single events PostgreSQL refuses.
   * Each goes to the dead letters (reason `unstorable`, with the database's message) in place of being
   * counted; everything else is committed as usual. A failure of another kind on the way (the database
   * went away) leaves the records to the next flush, which starts over from the last commit.
   */
  private async isolate(): Promise<FlushResult> {
    const all = this.unflushed.map((r) =>
      r.event !== null && !isStorableValue(r.event)
        ? setAside(r, 'a string holds NUL or a lone surrogate, which PostgreSQL cannot store')
        : r,
    );
    const work: IngestRecord[][] = [all];
    let done: FlushResult = { committed: this.checkpoint.nextOffset, windows: 0 };
    try {
      await this.rewind();
      this.unflushed = [];
      while (work.length > 0) {
        const group = work[0]!;
        try {
          await this.processNow(group);
          done = await this.commit();
          work.shift();
          continue;
        } catch (err) {
          if (!isDataError(err)) throw err;
          await this.rewind();
          this.unflushed = [];
          work.shift();
          if (group.length > 1) {
            const mid = group.length >> 1;
            work.unshift(group.slice(0, mid), group.slice(mid));
            continue;
          }
          const r = group[0]!;
          // An offset with no event to set aside: the refusal is not about an event's content.
          if (r.event === null) {
            work.unshift(group);
            throw err;
          }
          const e = err as { code?: string; message?: string };
          work.unshift([setAside(r, `the database refused the event (${e.code}: ${e.message})`)]);
        }
      }
    } catch (err) {
      this.unflushed = work.flat();
      this.stale = true;
      throw err;
    }
    return done;
  }

  private async commit(): Promise<FlushResult> {
    const dirty = [...new Set([...this.retry, ...this.engine.takeDirty()])];
    this.retry = [];
    for (const e of this.engine.takeEmissions()) if (e.kind === 'expire') this.finalized.push(e.window);
    // Held feedback settled without new events (settleWaiting) changes pending rows: that is a commit too.
    if (this.uncommitted === 0 && dirty.length === 0 && this.pendingOut.size === 0)
      return { committed: this.checkpoint.nextOffset, windows: 0 };
    // Snapshot synchronously (states copied): processing may continue while the commit is in flight.
    const windows = dirty.map((w) => ({ ...toShardWindow(w), state: cloneState(w.acc) }));
    const checkpoint = { ...this.checkpoint };
    const deadLetters = this.deadLetters;
    const tooLate = this.tooLateOut;
    const joinOut = this.joinOut;
    const finalized = this.finalized;
    const pendingOut = this.pendingOut;
    this.pendingOut = new Map();
    this.deadLetters = [];
    this.tooLateOut = [];
    this.joinOut = [];
    this.finalized = [];
    const uncommitted = this.uncommitted;
    const late = this.late;
    const started = performance.now();
    try {
      if (tooLate.length > 0 && this.deps.deadLetter) await this.deps.deadLetter(tooLate);
      // Before the offset moves past these requests, so a committed request is always findable.
      await this.deps.joins?.record(joinOut);
      await this.deps.repo.commit(
        this.shard,
        this.epoch,
        windows,
        checkpoint,
        deadLetters,
        pendingChanges(pendingOut),
      );
    } catch (err) {
      // Nothing was stored: the next flush writes these windows whole again, even those expired since.
      this.retry = dirty;
      this.deadLetters = [...deadLetters, ...this.deadLetters];
      this.tooLateOut = [...tooLate, ...this.tooLateOut];
      this.joinOut = [...joinOut, ...this.joinOut];
      this.finalized = [...finalized, ...this.finalized];
      // Changes made since the snapshot are newer: they win over the failed ones of the same event.
      this.pendingOut = new Map([...pendingOut, ...this.pendingOut]);
      this.deps.observer?.commitFailed(this.shard);
      throw err;
    }
    this.uncommitted -= uncommitted;
    this.late -= late;
    this.deps.observer?.committed({
      shard: this.shard,
      seconds: (performance.now() - started) / 1000,
      events: checkpoint.events - this.reported.events,
      duplicates: checkpoint.duplicates - this.reported.duplicates,
      late,
      tooLate: checkpoint.tooLate - this.reported.tooLate,
      watermark: checkpoint.watermark,
    });
    this.reported = {
      events: checkpoint.events,
      duplicates: checkpoint.duplicates,
      tooLate: checkpoint.tooLate,
    };
    this.unflushed = this.unflushed.filter((r) => r.offset >= checkpoint.nextOffset);
    if (deadLetters.length > 0) this.deps.onDeadLetters?.(deadLetters);
    // Readers learn of the change; a failure here only delays it (cache TTLs), the commit stands.
    await this.deps.aggregates
      ?.committed(this.shard, windows, finalized.map(toShardWindow))
      .catch((err: unknown) => this.deps.onHotError?.(err));
    return { committed: checkpoint.nextOffset, windows: windows.length };
  }

  private apply(r: EventRecord, prices: PriceBook): void {
    const e = r.event;
    this.checkpoint.events++;
    this.resolveExpiredPending(r.ts);
    switch (e.type) {
      case 'llm.request':
        this.applyRequest(r, e, prices);
        return;
      case 'user.feedback':
      case 'eval.result':
        if (e.type === 'eval.result' && e.request_id === undefined) {
          this.addTo(r, e.segment, e.arm ?? UNASSIGNED_ARM, (s) => addQuality(s, e.score));
          return;
        }
        this.applyAttached(r, e as Attached);
        return;
      default:
        // Exposure and health events are validated and counted but do not change request aggregates.
        return;
    }
  }

  private applyRequest(r: EventRecord, e: LlmRequestEvent, prices: PriceBook): void {
    const arm = e.arm ?? UNASSIGNED_ARM;
    const cost = e.cost_usd ?? prices.cost(e.model, e.input_tokens, e.output_tokens, r.ts) ?? 0;
    if (!this.addTo(r, e.segment, arm, (s) => addRequest(s, e, cost))) return;
    const joined = { segment: e.segment, arm, ts: r.ts };
    this.remember(e.request_id, joined);
    this.joinWaiting(e.request_id, joined, r.offset);
  }

  private applyAttached(r: EventRecord, e: Attached): void {
    if (e.arm !== undefined) {
      this.attach(r.offset, r.ts, e, { segment: e.segment, arm: e.arm, ts: r.ts });
      return;
    }
    const joined = this.requests.get(e.request_id) ?? this.remote?.get(e.request_id);
    if (joined) {
      this.attach(r.offset, r.ts, e, joined);
      return;
    }
    if (this.engine.arrival(r.ts) === 'too_late') {
      this.recordTooLate(r);
      return;
    }
    const waiting = { ts: r.ts, offset: r.offset, event: e };
    this.hold(waiting);
    this.pendingOut.set(e.id, {
      eventId: e.id,
      requestId: e.request_id,
      ts: r.ts,
      offset: r.offset,
      event: e,
    });
  }

  private hold(p: Waiting): void {
    const list = this.pending.get(p.event.request_id) ?? [];
    list.push(p);
    this.pending.set(p.event.request_id, list);
    this.pendingIds.add(p.event.id);
  }

  /** A waiting event is counted: the next commit drops its stored row (or never stores it). */
  private release(p: Waiting): void {
    this.pendingIds.delete(p.event.id);
    if (this.pendingOut.get(p.event.id)) this.pendingOut.delete(p.event.id);
    else this.pendingOut.set(p.event.id, null);
  }

  private attach(offset: number, ts: number, e: Attached, to: Joined): void {
    const fold =
      e.type === 'user.feedback'
        ? (s: AggregateState) => addFeedback(s, e)
        : (s: AggregateState) => addQuality(s, e.score);
    this.addTo({ offset, ts, event: e }, to.segment, to.arm, fold);
  }

  /**
   * Feedback whose request never came is counted unassigned just before the watermark would make it
   * too late, so the outcome does not depend on arrival order within the lateness bound.
   */
  private resolveExpiredPending(nextTs: number): void {
    if (this.pending.size === 0) return;
    const nextWm = nextTs - this.config.maxOutOfOrdernessMs;
    if (nextWm <= this.engine.watermark) return;
    for (const [requestId, list] of this.pending) {
      const keep = list.filter((p) => {
        const end = alignDown(p.ts, this.config.windowMs) + this.config.windowMs;
        if (end + this.config.allowedLatenessMs > nextWm) return true;
        this.release(p);
        this.attach(-1, p.ts, p.event, { segment: p.event.segment, arm: UNASSIGNED_ARM, ts: p.ts });
        return false;
      });
      if (keep.length === 0) this.pending.delete(requestId);
      else this.pending.set(requestId, keep);
    }
  }

  private addTo(r: EventRecord, segment: string, arm: string, fold: (s: AggregateState) => void): boolean {
    const arrival = this.engine.add(r.event.target + SEP + segment + SEP + arm, r.ts, fold);
    if (arrival === 'too_late') {
      this.recordTooLate(r);
      return false;
    }
    if (arrival === 'late') this.late++;
    return true;
  }

  private recordTooLate(r: EventRecord): void {
    this.checkpoint.tooLate++;
    const wm = this.engine.watermark;
    if (this.deps.deadLetter) this.tooLateOut.push({ offset: r.offset, event: r.event, watermark: wm });
    this.deadLetters.push({
      offset: r.offset,
      eventId: r.event.id,
      reason: `too_late: event time ${new Date(r.ts).toISOString()} is beyond the allowed lateness (watermark ${new Date(wm).toISOString()})`,
      payload: r.event,
    });
  }

  private remember(requestId: string, j: Joined): void {
    this.requests.set(requestId, j);
    if (this.deps.joins) this.joinOut.push([requestId, j]);
    if (this.requests.size <= this.config.joinMaxEntries && this.requests.size % 1024 !== 0) return;
    const cutoff = this.engine.watermark - this.config.joinHorizonMs;
    for (const [id, v] of this.requests) {
      if (v.ts >= cutoff && this.requests.size <= this.config.joinMaxEntries) break;
      this.requests.delete(id);
    }
  }
}

/** The record of an event PostgreSQL cannot store: its offset, passed as a dead letter. */
function setAside(r: IngestRecord, detail: string): IngestRecord {
  return {
    offset: r.offset,
    event: null,
    ts: r.ts,
    deadLetter: { eventId: r.event?.id ?? null, reason: `unstorable: ${detail}`, payload: r.event },
  };
}

function isAttached(e: TelemetryEvent): e is Attached {
  return e.type === 'user.feedback' || (e.type === 'eval.result' && e.request_id !== undefined);
}

function pendingChanges(out: ReadonlyMap<string, PendingJoin | null>): PendingJoinChanges {
  const put: PendingJoin[] = [];
  const drop: string[] = [];
  for (const [id, p] of out) {
    if (p) put.push(p);
    else drop.push(id);
  }
  return { put, drop };
}

function toShardWindow(w: Window): ShardWindow {
  const [target, segment, arm] = w.key.split(SEP) as [string, string, string];
  return { target, segment, arm, start: w.start, end: w.end, state: w.acc };
}
