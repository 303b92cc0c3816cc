/**
 * A lean reader of the DDSketch protobuf that domain/sketch.ts writes. Decoding through the library
 * costs a fraction of a millisecond per window (its store grows bin by bin), which alone would exceed
 * the decide budget at 50 arms × 60 windows; reading the wire format straight into dense bucket arrays
 * is two orders of magnitude cheaper. Quantiles follow the library's rank rule exactly, so results
 * agree with `percentilesOf` and `sketchHistogram` (tests/unit/intelligence/fast-sketch.test.ts).
 */
import type { Percentiles, WindowAggregate } from '../aggregate';
import { mannWhitneyColumns, type Bin } from '../stats/tests';

/** Bucket counts by index, dense from `offset`: counts[i] belongs to bucket index offset + i. */
export interface Store {
  offset: number;
  counts: Float64Array;
}

export interface Histogram {
  gamma: number;
  indexOffset: number;
  zero: number;
  positive: Store;
  negative: Store;
  count: number;
}

/**
 * The store of no bucket, shared (nothing writes into a decoded or merged store). Not frozen: a frozen
 * object has its own hidden class, which would make every loop over stores polymorphic.
 */
const EMPTY_STORE: Store = { offset: 0, counts: new Float64Array(0) };

export const emptyHistogram = (): Histogram => ({
  gamma: NaN,
  indexOffset: 0,
  zero: 0,
  positive: EMPTY_STORE,
  negative: EMPTY_STORE,
  count: 0,
});

/** (bucket index, count) pairs as read off the wire, possibly repeating an index. */
interface Pairs {
  keys: number[];
  counts: number[];
}

function storeOf(pairs: Pairs): Store {
  const { keys, counts: cs } = pairs;
  if (keys.length === 0) return EMPTY_STORE;
  let lo = Infinity;
  let hi = -Infinity;
  for (const k of keys) {
    if (k < lo) lo = k;
    if (k > hi) hi = k;
  }
  const counts = new Float64Array(hi - lo + 1);
  for (let i = 0; i < keys.length; i++) counts[keys[i]! - lo]! += cs[i]!;
  return { offset: lo, counts };
}

/** Sum stores into one dense store spanning all of them. */
function mergeStores(stores: readonly Store[]): Store {
  let lo = Infinity;
  let hi = -Infinity;
  for (const st of stores) {
    if (st.counts.length === 0) continue;
    if (st.offset < lo) lo = st.offset;
    if (st.offset + st.counts.length - 1 > hi) hi = st.offset + st.counts.length - 1;
  }
  if (lo === Infinity) return EMPTY_STORE;
  const counts = new Float64Array(hi - lo + 1);
  for (const st of stores) {
    const shift = st.offset - lo;
    const c = st.counts;
    for (let i = 0; i < c.length; i++) counts[shift + i]! += c[i]!;
  }
  return { offset: lo, counts };
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/**
 * Bucket arrays are carved out of shared slabs: a typed array of more than a few elements gets its own
 * off-heap backing store, and allocating 3,000 of those per cold cycle cost more than reading them.
 * A slab lives while any histogram cut from it does (the decoded cache is bounded, so slabs are too).
 */
const SLAB_DOUBLES = 1 << 16;
let slabBuf = new Float64Array(SLAB_DOUBLES);
let slabUsed = 0;

/** Room for `n` doubles: the index in `slabBuf` where they go (a new slab when the current one is full). */
function slabCut(n: number): number {
  if (slabUsed + n > SLAB_DOUBLES) {
    slabBuf = new Float64Array(SLAB_DOUBLES);
    slabUsed = 0;
  }
  const at = slabUsed;
  slabUsed += n;
  return at;
}

/**
 * The wire bytes of the sketch being decoded (a reused, 8-byte aligned buffer: bucket counts are copied
 * out, so nothing keeps a reference to it), a view of it as doubles, and the read position. Module state
 * rather than a reader object: decoding 3,000 sketches a cycle, a reader and its DataView per sketch
 * were a measurable share of the work.
 */
let wire = Buffer.from(new ArrayBuffer(4096));
let wireDoubles = new Float64Array(wire.buffer);
let pos = 0;
/**
 * Where decoding starts in `wire`: chosen so that the packed counts of the previous sketch would have
 * started on a double boundary. Sketches of one writer share their layout, so the counts of the next
 * one are read in place through `wireDoubles` instead of being copied out byte by byte first.
 */
let wireShift = 0;
const scratch = new Float64Array(1);
const scratchBytes = new Uint8Array(scratch.buffer);

function varint(): number {
  let b = wire[pos++]!;
  if (b < 0x80) return b;
  let result = b & 0x7f;
  let scale = 128;
  for (;;) {
    b = wire[pos++]!;
    result += (b & 0x7f) * scale;
    if (b < 0x80) return result;
    scale *= 128;
  }
}

function sint(): number {
  const v = varint();
  return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
}

/** One little-endian double. */
function double(): number {
  if (LITTLE_ENDIAN) for (let i = 0; i < 8; i++) scratchBytes[i] = wire[pos + i]!;
  else for (let i = 0; i < 8; i++) scratchBytes[7 - i] = wire[pos + i]!;
  pos += 8;
  return scratch[0]!;
}

/** A field's tag: its number and wire type (one object reused, read before the next tag). */
const tag = { field: 0, wireType: 0 };
function readTag(): { field: number; wireType: number } {
  const t = varint();
  tag.field = t >>> 3;
  tag.wireType = t & 7;
  return tag;
}

function skip(wireType: number): void {
  if (wireType === 0) varint();
  else if (wireType === 1) pos += 8;
  else if (wireType === 2) pos += varint();
  else if (wireType === 5) pos += 4;
  else throw new Error(`unsupported protobuf wire type ${wireType}`);
}

/** Misaligned packed counts are copied here first (then read as the aligned ones are). */
let unaligned = new Float64Array(512);

/**
 * `n` packed little-endian doubles at the read position: in place in `wireDoubles` when aligned, else
 * copied natively into `unaligned` (and the next sketch decoded at a shift that aligns them). Returns the
 * array and sets `packedAt` to where they start in it. Both are transient: the next decode reuses them.
 */
let packedAt = 0;
function packed(n: number): Float64Array {
  const bytes = n * 8;
  if (!LITTLE_ENDIAN) {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = double();
    packedAt = 0;
    return out;
  }
  const misaligned = pos & 7;
  if (misaligned === 0) {
    packedAt = pos >>> 3;
    pos += bytes;
    return wireDoubles;
  }
  wireShift = (wireShift + 8 - misaligned) & 7;
  if (n > unaligned.length) unaligned = new Float64Array(Math.max(n, 2 * unaligned.length));
  wire.copy(new Uint8Array(unaligned.buffer), 0, pos, pos + bytes);
  pos += bytes;
  packedAt = 0;
  return unaligned;
}

/** Running total of the store last read (readStore returns the store itself, to allocate nothing else). */
let lastStoreTotal = 0;

/**
 * One store message: DDSketch's dense store writes its buckets as packed contiguous counts, trimmed of
 * empty edge buckets and copied into a slab; sparse (index, count) entries, which other writers may use,
 * are merged in.
 */
function readStore(end: number): Store {
  let offset = 0;
  // The counts: one packed run (the usual case) read where it lies, or several joined into `chunks`.
  let src: Float64Array = EMPTY_STORE.counts;
  let from = 0;
  let n = 0;
  let chunks: Float64Array[] | null = null;
  let pairs: Pairs | null = null;
  while (pos < end) {
    const { field, wireType } = readTag();
    if (field === 1 && wireType === 2) {
      const stop = varint() + pos;
      let key = 0;
      let count = 0;
      while (pos < stop) {
        const t = varint();
        if (t === 8) key = sint();
        else if (t === 17) count = double();
        else skip(t & 7);
      }
      pairs ??= { keys: [], counts: [] };
      pairs.keys.push(key);
      pairs.counts.push(count);
    } else if (field === 2 && (wireType === 2 || wireType === 1)) {
      const m = wireType === 2 ? varint() / 8 : 1;
      const buf = wireType === 2 ? packed(m) : Float64Array.of(double());
      const at = wireType === 2 ? packedAt : 0;
      if (n === 0 && chunks === null) {
        src = buf;
        from = at;
        n = m;
      } else {
        // Copied out at once: the next packed run may reuse the transient buffer.
        chunks ??= [src.slice(from, from + n)];
        chunks.push(buf.slice(at, at + m));
      }
    } else if (field === 3 && wireType === 0) offset = sint();
    else skip(wireType);
  }
  if (chunks) {
    src = concat(chunks);
    from = 0;
    n = src.length;
  }
  let lo = from;
  let hi = from + n - 1;
  while (lo <= hi && !(src[lo]! > 0)) lo++;
  while (hi >= lo && !(src[hi]! > 0)) hi--;
  let total = 0;
  let dense = EMPTY_STORE;
  if (lo <= hi) {
    const len = hi - lo + 1;
    const big = len > SLAB_DOUBLES / 8;
    const at = big ? 0 : slabCut(len);
    const dst = big ? new Float64Array(len) : slabBuf;
    for (let i = 0; i < len; i++) {
      const c = src[lo + i]!;
      dst[at + i] = c;
      if (c > 0) total += c;
    }
    dense = { offset: offset + lo - from, counts: big ? dst : dst.subarray(at, at + len) };
  }
  if (pairs === null) {
    lastStoreTotal = total;
    return dense;
  }
  for (const c of pairs.counts) total += c;
  lastStoreTotal = total;
  return mergeStores([dense, storeOf(pairs)]);
}

function concat(chunks: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(chunks.reduce((a, c) => a + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Decode one base64 sketch. */
export function decodeHistogram(encoded: string): Histogram {
  const need = Math.ceil((encoded.length * 3) / 4) + 8;
  if (need > wire.length) {
    wire = Buffer.from(new ArrayBuffer(8 * Math.ceil(Math.max(2 * wire.length, need) / 8)));
    wireDoubles = new Float64Array(wire.buffer);
  }
  pos = wireShift;
  const end = pos + wire.write(encoded, pos, 'base64');
  let gamma = NaN;
  let indexOffset = 0;
  let zero = 0;
  let count = 0;
  let positive = EMPTY_STORE;
  let negative = EMPTY_STORE;
  let more: { pos: Store[]; neg: Store[] } | null = null;
  while (pos < end) {
    const { field, wireType } = readTag();
    if (field === 1 && wireType === 2) {
      const stop = varint() + pos;
      while (pos < stop) {
        const t = varint();
        if (t === 9) gamma = double();
        else if (t === 17) indexOffset = double();
        else skip(t & 7);
      }
    } else if ((field === 2 || field === 3) && wireType === 2) {
      const stop = varint() + pos;
      const store = readStore(stop);
      count += lastStoreTotal;
      // A sketch writes each store once; repeated ones (allowed by protobuf) are merged.
      const first = field === 2 ? positive : negative;
      if (first === EMPTY_STORE && !more) {
        if (field === 2) positive = store;
        else negative = store;
      } else {
        more ??= { pos: [positive], neg: [negative] };
        (field === 2 ? more.pos : more.neg).push(store);
      }
    } else if (field === 4 && wireType === 1) {
      const z = double();
      zero += z;
      count += z;
    } else skip(wireType);
  }
  if (more) {
    positive = mergeStores(more.pos);
    negative = mergeStores(more.neg);
  }
  return { gamma, indexOffset, zero, positive, negative, count };
}

/**
 * Decoded sketches by their encoded text: a cycle reads each window's sketch in several places (summary,
 * regression test, judge), and an activity process sees the same recent windows cycle after cycle.
 * Bounded so a long-running worker does not grow without limit; decoding is pure, so caching is safe.
 */
const decoded = new Map<string, Histogram>();
const DECODED_LIMIT = 20_000;

function decodeCached(encoded: string): Histogram {
  let h = decoded.get(encoded);
  if (!h) {
    h = decodeHistogram(encoded);
    if (decoded.size >= DECODED_LIMIT) decoded.delete(decoded.keys().next().value!);
    decoded.set(encoded, h);
  }
  return h;
}

/** The identity of a window's row and its latency sketch: what `windowHistogram` reads. */
export type SketchWindow = Pick<
  WindowAggregate,
  'target' | 'segment' | 'arm' | 'window_start' | 'window_end' | 'latency_sketch'
>;

/**
 * Decoded latency sketches by window identity, each with the text it was decoded from: per target ×
 * segment × arm (least recently used first), then by window start. A cycle loads its rows anew, so every
 * sketch arrives as a new string: keyed by the text, each lookup would hash ~1.5 kB (about as costly as
 * decoding); keyed by the window, a lookup hashes a short key and confirms the hit by the window's end
 * and one string comparison (a memcmp), so a window whose sketch changed since (still open, or late
 * data) is decoded again and a closed one never is. The group key is built once per run of windows of
 * one group rather than once per window (3,000 concatenated keys a cycle cost as much as the lookups).
 */
interface CachedWindow {
  end: string;
  encoded: string;
  h: Histogram;
}
const byWindow = new Map<string, Map<string, CachedWindow>>();
let cachedWindows = 0;
let lastGroup: { target: string; segment: string; arm: string; windows: Map<string, CachedWindow> } | null =
  null;

function groupOf(w: SketchWindow): Map<string, CachedWindow> {
  const g = lastGroup;
  if (g !== null && g.arm === w.arm && g.segment === w.segment && g.target === w.target) return g.windows;
  const k = `${w.target}\u0000${w.segment}\u0000${w.arm}`;
  let windows = byWindow.get(k);
  if (windows) byWindow.delete(k);
  else windows = new Map<string, CachedWindow>();
  byWindow.set(k, windows);
  lastGroup = { target: w.target, segment: w.segment, arm: w.arm, windows };
  return windows;
}

/** Make room for one more window: drop the least recently used group, or the oldest window of `keep`. */
function evict(keep: Map<string, CachedWindow>): void {
  for (const [k, windows] of byWindow) {
    if (windows === keep) continue;
    byWindow.delete(k);
    cachedWindows -= windows.size;
    if (lastGroup?.windows === windows) lastGroup = null;
    return;
  }
  keep.delete(keep.keys().next().value!);
  cachedWindows--;
}

/** A window's decoded latency sketch, null without one. */
export function windowHistogram(w: SketchWindow): Histogram | null {
  const encoded = w.latency_sketch;
  if (!encoded) return null;
  const windows = groupOf(w);
  const hit = windows.get(w.window_start);
  if (hit !== undefined && hit.end === w.window_end && hit.encoded === encoded) return hit.h;
  const h = decodeHistogram(encoded);
  if (hit === undefined) {
    while (cachedWindows >= DECODED_LIMIT) evict(windows);
    cachedWindows++;
  }
  windows.set(w.window_start, { end: w.window_end, encoded, h });
  return h;
}

/**
 * Merge the latency sketches of windows `from` (inclusive) to `to` (exclusive), those without one
 * skipped, into one histogram.
 */
export function mergeWindowHistograms(
  windows: readonly SketchWindow[],
  from = 0,
  to = windows.length,
): Histogram {
  const parts: Histogram[] = [];
  for (let i = from; i < to; i++) {
    const h = windowHistogram(windows[i]!);
    if (h) parts.push(h);
  }
  if (parts.length === 0) return mergeDecoded(parts);
  // A later cycle merges the same closed windows again (the baseline): when every part is the very
  // decoded histogram merged last time, in the same order, the sum is the same.
  const memo = merged.get(parts[0]!);
  if (memo && memo.parts.length === parts.length && memo.parts.every((p, i) => p === parts[i]))
    return memo.result;
  const result = mergeDecoded(parts);
  merged.set(parts[0]!, { parts, result });
  return result;
}

/**
 * The last merge that started at each decoded window histogram. Keyed weakly: an entry lives while its
 * first window's histogram does (in the bounded cache or with a caller). Merged histograms are shared
 * between the calls that get them, so nothing may write into one (nothing does).
 */
const merged = new WeakMap<Histogram, { parts: Histogram[]; result: Histogram }>();

/** Forget every decoded sketch (benchmarks use it to time cold cycles). */
export function clearSketchCache(): void {
  decoded.clear();
  byWindow.clear();
  cachedWindows = 0;
  lastGroup = null;
}

/** Merge encoded sketches (nulls skipped) into one histogram. */
export function mergeHistograms(encoded: readonly (string | null)[]): Histogram {
  const parts: Histogram[] = [];
  for (const e of encoded) if (e) parts.push(decodeCached(e));
  return mergeDecoded(parts);
}

/** Merge decoded histograms into one (empty ones add nothing). */
export function mergeDecoded(parts: readonly Histogram[]): Histogram {
  const h = emptyHistogram();
  for (const p of parts) {
    if (p.count === 0 && Number.isNaN(p.gamma)) continue;
    h.gamma = p.gamma;
    h.indexOffset = p.indexOffset;
    h.zero += p.zero;
    h.count += p.count;
  }
  const stores: Store[] = new Array<Store>(parts.length);
  for (let i = 0; i < parts.length; i++) stores[i] = parts[i]!.positive;
  h.positive = mergeStores(stores);
  for (let i = 0; i < parts.length; i++) stores[i] = parts[i]!.negative;
  h.negative = mergeStores(stores);
  return h;
}

/** The representative value of a bucket: the library's LogarithmicMapping.value. */
function mappedValue(gamma: number, indexOffset: number, key: number): number {
  return Math.pow(gamma, key - indexOffset) * (2 / (1 + gamma));
}

/**
 * Bucket values of one mapping by key, computed once: every sketch of a deployment shares its mapping
 * and a cycle reads the same few hundred buckets thousands of times. Each entry is exactly what
 * `mappedValue` returns (the same expression), so values compare equal across histograms (ties).
 */
const valueTable = { gamma: NaN, indexOffset: NaN, lo: 0, values: new Float64Array(0) };

function valueOf(h: Histogram, key: number): number {
  const t = valueTable;
  const i = key - t.lo;
  if (t.gamma === h.gamma && t.indexOffset === h.indexOffset && i >= 0 && i < t.values.length)
    return t.values[i]!;
  return mappedValue(h.gamma, h.indexOffset, key);
}

/** Make the table cover keys `lo` to `hi` of the histogram's mapping (a small range; others bypass it). */
function tabulate(h: Histogram, lo: number, hi: number): void {
  const t = valueTable;
  if (!(hi - lo < 1 << 14) || Number.isNaN(h.gamma)) return;
  if (t.gamma === h.gamma && t.indexOffset === h.indexOffset && lo >= t.lo && hi < t.lo + t.values.length)
    return;
  const same = t.gamma === h.gamma && t.indexOffset === h.indexOffset && t.values.length > 0;
  const from = same ? Math.min(lo, t.lo) : lo;
  const to = same ? Math.max(hi, t.lo + t.values.length - 1) : hi;
  if (to - from >= 1 << 14) return;
  const values = new Float64Array(to - from + 1);
  for (let k = from; k <= to; k++) values[k - from] = mappedValue(h.gamma, h.indexOffset, k);
  t.gamma = h.gamma;
  t.indexOffset = h.indexOffset;
  t.lo = from;
  t.values = values;
}

const storeTotal = (st: Store) => st.counts.reduce((a, c) => a + c, 0);

/** The value at quantile q, with DDSketch's rank rule; null when empty. */
export function quantile(h: Histogram, q: number): number | null {
  if (h.count === 0) return null;
  const rank = q * (h.count - 1);
  const negCount = storeTotal(h.negative);
  if (rank < negCount) {
    const reversed = negCount - rank - 1;
    let running = 0;
    const { offset, counts } = h.negative;
    for (let i = 0; i < counts.length; i++) {
      running += counts[i]!;
      if (running >= reversed + 1) return -valueOf(h, offset + i);
    }
    return -valueOf(h, offset + counts.length - 1);
  }
  if (rank < h.zero + negCount) return 0;
  const target = rank - h.zero - negCount;
  let running = 0;
  const { offset, counts } = h.positive;
  for (let i = 0; i < counts.length; i++) {
    running += counts[i]!;
    if (running > target) return valueOf(h, offset + i);
  }
  return counts.length ? valueOf(h, offset + counts.length - 1) : 0;
}

export function percentiles(h: Histogram): Percentiles {
  if (h.count === 0) return { p50: null, p90: null, p95: null, p99: null };
  return { p50: quantile(h, 0.5), p90: quantile(h, 0.9), p95: quantile(h, 0.95), p99: quantile(h, 0.99) };
}

/**
 * The histogram's (value, count) pairs ascending, written into `values`/`counts` from index 0 (grown
 * when too short; the arrays used are returned with the number of pairs): bins without an object each.
 */
export interface BinColumns {
  values: Float64Array;
  counts: Float64Array;
}

export function binColumns(h: Histogram, into: BinColumns): BinColumns & { length: number } {
  const neg = h.negative;
  const pos = h.positive;
  const need = neg.counts.length + pos.counts.length + 1;
  let { values, counts } = into;
  if (values.length < need || counts.length < need) {
    values = new Float64Array(2 * need);
    counts = new Float64Array(2 * need);
  }
  if (pos.counts.length > 0) tabulate(h, pos.offset, pos.offset + pos.counts.length - 1);
  let n = 0;
  for (let i = neg.counts.length - 1; i >= 0; i--)
    if (neg.counts[i]! > 0) {
      values[n] = -valueOf(h, neg.offset + i);
      counts[n++] = neg.counts[i]!;
    }
  if (h.zero > 0) {
    values[n] = 0;
    counts[n++] = h.zero;
  }
  for (let i = 0; i < pos.counts.length; i++)
    if (pos.counts[i]! > 0) {
      values[n] = valueOf(h, pos.offset + i);
      counts[n++] = pos.counts[i]!;
    }
  return { values, counts, length: n };
}

let binScratch: BinColumns = { values: new Float64Array(0), counts: new Float64Array(0) };

/** (value, count) pairs ascending: the input of a rank test, values in one bucket being ties. */
export function bins(h: Histogram): Bin[] {
  const c = binColumns(h, binScratch);
  binScratch = c;
  const out: Bin[] = new Array<Bin>(c.length);
  for (let i = 0; i < c.length; i++) out[i] = { value: c.values[i]!, count: c.counts[i]! };
  return out;
}

let mwScratch: BinColumns[] = [
  { values: new Float64Array(0), counts: new Float64Array(0) },
  { values: new Float64Array(0), counts: new Float64Array(0) },
];

/** `mannWhitneyHistograms(bins(x), bins(y))` without a bin object per bucket. */
export function mannWhitneySketches(x: Histogram, y: Histogram): ReturnType<typeof mannWhitneyColumns> {
  const a = binColumns(x, mwScratch[0]!);
  const b = binColumns(y, mwScratch[1]!);
  mwScratch = [a, b];
  return mannWhitneyColumns(a.values, a.counts, a.length, b.values, b.counts, b.length);
}
