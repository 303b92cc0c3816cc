/**
 * Latency sketches: DDSketch (Datadog's reference JS implementation) with 1% relative accuracy.
 * Serialized as base64 protobuf so PostgreSQL and Redis can hold them; merging is bucket-wise and exact.
 * Not for workflow code (protobufjs); activities and the stream process use it.
 */
import { DDSketch } from '@datadog/sketches-js';
import compiledProto from '@datadog/sketches-js/dist/ddsketch/proto/compiled.js';
import type { Percentiles } from './aggregate';

export const SKETCH_RELATIVE_ACCURACY = 0.01;

export function newSketch(): DDSketch {
  return new DDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY });
}

/** The library's compiled protobuf messages (the DDSketch wire format), for canonical encoding. */
const proto = compiledProto as unknown as {
  DDSketch: {
    create(m: object): object;
    encode(m: object): { finish(): Uint8Array };
  };
};

interface DenseStoreView {
  bins: number[];
  offset: number;
}

/** A store's non-zero span as the wire's contiguous bins: the same for the same counts, however they grew. */
function canonicalStore(store: DenseStoreView): {
  contiguousBinCounts: number[];
  contiguousBinIndexOffset: number;
} {
  let from = 0;
  let to = store.bins.length;
  while (from < to && !store.bins[from]) from++;
  while (to > from && !store.bins[to - 1]) to--;
  return { contiguousBinCounts: store.bins.slice(from, to), contiguousBinIndexOffset: store.offset + from };
}

/**
 * Base64 protobuf of the sketch, canonical: the library's own `toProto` writes each store's whole
 * backing array, whose padding depends on the order values arrived in, so equal sketches could encode
 * differently (a property test found it). Here only the non-zero span of each store is written.
 */
export function encodeSketch(sketch: DDSketch): string {
  const s = sketch as unknown as {
    mapping: { toProto(): object };
    store: DenseStoreView;
    negativeStore: DenseStoreView;
    zeroCount: number;
  };
  const message = proto.DDSketch.create({
    mapping: s.mapping.toProto(),
    positiveValues: canonicalStore(s.store),
    negativeValues: canonicalStore(s.negativeStore),
    zeroCount: s.zeroCount,
  });
  return Buffer.from(proto.DDSketch.encode(message).finish()).toString('base64');
}

export function decodeSketch(encoded: string): DDSketch {
  return DDSketch.fromProto(Buffer.from(encoded, 'base64'));
}

/** Merge encoded sketches into one; nulls (windows without values) are skipped. */
export function mergeEncoded(encoded: readonly (string | null)[]): DDSketch {
  const merged = newSketch();
  for (const e of encoded) if (e) merged.merge(decodeSketch(e));
  return merged;
}

export function percentilesOf(sketch: DDSketch): Percentiles {
  if (sketch.count === 0) return { p50: null, p90: null, p95: null, p99: null };
  const q = (p: number) => sketch.getValueAtQuantile(p);
  return { p50: q(0.5), p90: q(0.9), p95: q(0.95), p99: q(0.99) };
}

/**
 * The sketch as a histogram of (representative value, count) pairs, ascending: what a rank test over
 * two sketches needs (values inside one bucket are ties within the sketch's relative accuracy).
 */
export function sketchHistogram(sketch: DDSketch): { value: number; count: number }[] {
  const out: { value: number; count: number }[] = [];
  const neg = sketch.negativeStore;
  for (let i = neg.bins.length - 1; i >= 0; i--) {
    const c = neg.bins[i] ?? 0;
    if (c > 0) out.push({ value: -sketch.mapping.value(i + neg.offset), count: c });
  }
  if (sketch.zeroCount > 0) out.push({ value: 0, count: sketch.zeroCount });
  const pos = sketch.store;
  for (let i = 0; i < pos.bins.length; i++) {
    const c = pos.bins[i] ?? 0;
    if (c > 0) out.push({ value: sketch.mapping.value(i + pos.offset), count: c });
  }
  return out;
}
