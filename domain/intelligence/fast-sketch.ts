/**
 * A lean reader of the DDSketch protobuf that domain/sketch.ts writes. Decoding through the library
 * costs a fraction of a millisecond per window (its store grows bin by bin), which alone would exceed
 * the decide budget at 50 arms × 60 windows; reading the wire format straight into dense bucket arrays
 * is two orders of magnitude cheaper. Quantiles follow the library's rank rule exactly, so results
 * agree with `percentilesOf` and `sketchHistogram` (tests/unit/intelligence/fast-sketch.test.ts).
 */
import type { Percentiles, WindowAggregate } from '../aggregate';
import type { Bin } from '../stats/tests';

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

const emptyStore = (): Store => ({ offset: 0, counts: new Float64Array(0) });

export const emptyHistogram = (): Histogram => ({
  gamma: NaN,
  indexOffset: 0,
  zero: 0,
  positive: emptyStore(),
  negative: emptyStore(),
  count: 0,
});

/** (bucket index, count) pairs as read off the wire, possibly repeating an index. */
interface Pairs {
  keys: number[];
  counts: number[];
}

function storeOf(pairs: Pairs): Store {
  const { keys, counts: cs } = pairs;
  if (keys.length === 0) return emptyStore();
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
  if (lo === Infinity) return emptyStore();
  const counts = new Float64Array(hi - lo + 1);
  for (const st of stores) {
    const shift = st.offset - lo;
    for (let i = 0; i < st.counts.length; i++) counts[shift + i]! += st.counts[i]!;
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

function slab(n: number): Float64Array {
  if (n > SLAB_DOUBLES / 8) return new Float64Array(n);
  if (slabUsed + n > SLAB_DOUBLES) {
    slabBuf = new Float64Array(SLAB_DOUBLES);
    slabUsed = 0;
  }
  const out = slabBuf.subarray(slabUsed, slabUsed + n);
  slabUsed += n;
  return out;
}

class Reader {
  pos: number;
  private readonly view: DataView;
  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
    }
  }
  sint(): number {
    const v = this.varint();
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
  }
  double(): number {
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }
  /**
   * `n` packed little-endian doubles. On a little-endian host (every platform Node ships for) one native
   * copy of the bytes into an aligned buffer replaces n DataView reads.
   */
  doubles(n: number): Float64Array {
    const at = this.pos;
    this.pos += n * 8;
    const out = slab(n);
    if (LITTLE_ENDIAN)
      new Uint8Array(out.buffer, out.byteOffset, n * 8).set(this.buf.subarray(at, at + n * 8));
    else for (let i = 0; i < n; i++) out[i] = this.view.getFloat64(at + i * 8, true);
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.pos += this.varint();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
}

/**
 * One store message: DDSketch's dense store writes its buckets as packed contiguous counts, read straight
 * into a typed array (trimmed of empty edge buckets); sparse (index, count) entries, which other writers
 * may use, are merged in.
 */
function readStore(r: Reader, end: number): { store: Store; total: number } {
  let offset = 0;
  const chunks: Float64Array[] = [];
  const pairs: Pairs = { keys: [], counts: [] };
  while (r.pos < end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 1 && wire === 2) {
      const stop = r.varint() + r.pos;
      let key = 0;
      let count = 0;
      while (r.pos < stop) {
        const t = r.varint();
        if (t === 8) key = r.sint();
        else if (t === 17) count = r.double();
        else r.skip(t % 8);
      }
      pairs.keys.push(key);
      pairs.counts.push(count);
    } else if (field === 2 && wire === 2) {
      const bytes = r.varint();
      chunks.push(r.doubles(bytes / 8));
    } else if (field === 2 && wire === 1) chunks.push(Float64Array.of(r.double()));
    else if (field === 3 && wire === 0) offset = r.sint();
    else r.skip(wire);
  }
  const all = chunks.length === 1 ? chunks[0]! : concat(chunks);
  let lo = 0;
  let hi = all.length - 1;
  while (lo <= hi && !(all[lo]! > 0)) lo++;
  while (hi >= lo && !(all[hi]! > 0)) hi--;
  let total = 0;
  for (let i = lo; i <= hi; i++) if (all[i]! > 0) total += all[i]!;
  const dense: Store = lo > hi ? emptyStore() : { offset: offset + lo, counts: all.subarray(lo, hi + 1) };
  if (pairs.keys.length === 0) return { store: dense, total };
  for (const c of pairs.counts) total += c;
  return { store: mergeStores([dense, storeOf(pairs)]), total };
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

let wire = Buffer.allocUnsafe(4096);

/** Decode one base64 sketch. */
export function decodeHistogram(encoded: string): Histogram {
  // Decoded into a reused buffer (nothing keeps a reference to it: bucket counts are copied out).
  const need = Math.ceil((encoded.length * 3) / 4);
  if (need > wire.length) wire = Buffer.allocUnsafe(Math.max(2 * wire.length, need));
  const buf = wire.subarray(0, wire.write(encoded, 'base64'));
  const r = new Reader(buf);
  const h = emptyHistogram();
  const pos: Store[] = [];
  const neg: Store[] = [];
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 1 && wire === 2) {
      const stop = r.varint() + r.pos;
      while (r.pos < stop) {
        const t = r.varint();
        if (t === 9) h.gamma = r.double();
        else if (t === 17) h.indexOffset = r.double();
        else r.skip(t % 8);
      }
    } else if ((field === 2 || field === 3) && wire === 2) {
      const stop = r.varint() + r.pos;
      const { store, total } = readStore(r, stop);
      (field === 2 ? pos : neg).push(store);
      h.count += total;
    } else if (field === 4 && wire === 1) {
      const z = r.double();
      h.zero += z;
      h.count += z;
    } else r.skip(wire);
  }
  h.positive = pos.length === 1 ? pos[0]! : mergeStores(pos);
  h.negative = neg.length === 1 ? neg[0]! : mergeStores(neg);
  return h;
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
 * Decoded latency sketches by window identity (target, segment, arm, start, end), each with the text it
 * was decoded from. A cycle loads its rows anew, so every sketch arrives as a new string: keyed by the
 * text, each lookup would hash ~1.5 kB (about as costly as decoding); keyed by the window, a lookup
 * hashes a short key and confirms the hit with one string comparison (a memcmp), so a window whose
 * sketch changed since (still open, or late data) is decoded again and a closed one never is.
 */
const byWindow = new Map<string, { encoded: string; h: Histogram }>();

/** A window's decoded latency sketch, null without one. */
export function windowHistogram(w: SketchWindow): Histogram | null {
  const encoded = w.latency_sketch;
  if (!encoded) return null;
  const k = `${w.target}\u0000${w.segment}\u0000${w.arm}\u0000${w.window_start}\u0000${w.window_end}`;
  const hit = byWindow.get(k);
  if (hit && hit.encoded === encoded) return hit.h;
  const h = decodeHistogram(encoded);
  if (!hit && byWindow.size >= DECODED_LIMIT) byWindow.delete(byWindow.keys().next().value!);
  byWindow.set(k, { encoded, h });
  return h;
}

/** Merge the latency sketches of windows (those without one skipped) into one histogram. */
export function mergeWindowHistograms(windows: readonly SketchWindow[]): Histogram {
  const parts: Histogram[] = [];
  for (const w of windows) {
    const h = windowHistogram(w);
    if (h) parts.push(h);
  }
  return mergeDecoded(parts);
}

/** Forget every decoded sketch (benchmarks use it to time cold cycles). */
export function clearSketchCache(): void {
  decoded.clear();
  byWindow.clear();
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
  h.positive = mergeStores(parts.map((p) => p.positive));
  h.negative = mergeStores(parts.map((p) => p.negative));
  return h;
}

/** The representative value of a bucket: the library's LogarithmicMapping.value. */
function valueOf(h: Histogram, key: number): number {
  return Math.pow(h.gamma, key - h.indexOffset) * (2 / (1 + h.gamma));
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

/** (value, count) pairs ascending: the input of a rank test, values in one bucket being ties. */
export function bins(h: Histogram): Bin[] {
  const out: Bin[] = [];
  const neg = h.negative;
  for (let i = neg.counts.length - 1; i >= 0; i--)
    if (neg.counts[i]! > 0) out.push({ value: -valueOf(h, neg.offset + i), count: neg.counts[i]! });
  if (h.zero > 0) out.push({ value: 0, count: h.zero });
  const pos = h.positive;
  for (let i = 0; i < pos.counts.length; i++)
    if (pos.counts[i]! > 0) out.push({ value: valueOf(h, pos.offset + i), count: pos.counts[i]! });
  return out;
}
