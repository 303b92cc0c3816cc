/**
 * Latency sketches: DDSketch (Datadog's reference JS implementation) with 1% relative accuracy.
 * Serialized as base64 protobuf so PostgreSQL and Redis can hold them; merging is bucket-wise and exact.
 * Not for workflow code (protobufjs); activities and the stream process use it.
 */
import { DDSketch } from '@datadog/sketches-js';
import type { Percentiles } from './aggregate';

export const SKETCH_RELATIVE_ACCURACY = 0.01;

export function newSketch(): DDSketch {
  return new DDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY });
}

export function encodeSketch(sketch: DDSketch): string {
  return Buffer.from(sketch.toProto()).toString('base64');
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
