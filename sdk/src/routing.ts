/**
 * Sticky assignment, the same function as the server's domain/routing.ts: bucket =
 * FNV-1a-32(UTF-8 key) mod 10,000, and arms laid out over the buckets in id order. A separate file so
 * the SDK package has no path outside itself; sdk/tests/routing.test.ts proves the two agree byte for
 * byte on a shared test vector.
 */

export const TOTAL_BASIS_POINTS = 10_000;

export type Weights = Record<string, number>;

const encoder = new TextEncoder();

/** FNV-1a 32-bit over the UTF-8 bytes of the key. */
export function fnv1a32(key: string): number {
  let hash = 0x811c9dc5;
  for (const byte of encoder.encode(key)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

export function bucketOf(assignmentKey: string): number {
  return fnv1a32(assignmentKey) % TOTAL_BASIS_POINTS;
}

/** The arm whose share of the 10,000 buckets covers `bucket`, or undefined when no arm has weight. */
export function armForBucket(weights: Weights, bucket: number): string | undefined {
  const arms = Object.entries(weights)
    .filter(([, w]) => w > 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  let upper = 0;
  for (const [arm, w] of arms) {
    upper += w;
    if (bucket < upper) return arm;
  }
  return arms.at(-1)?.[0];
}

export function assignArm(weights: Weights, assignmentKey: string): string | undefined {
  return armForBucket(weights, bucketOf(assignmentKey));
}
