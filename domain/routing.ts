/**
 * Sticky assignment: bucket = hash(assignment key) mod 10,000 picks the arm, so one user
 * keeps one arm while weights stay put, and moves only when the weights that cover its bucket change.
 * Pure and dependency-free so the SDK, the simulator and the server agree byte for byte.
 */
import { TOTAL_BASIS_POINTS, type Weights } from './model';

/** FNV-1a 32-bit over the UTF-8 bytes of the key: fast, stable across runtimes, well spread. */
export function fnv1a32(key: string): number {
  let hash = 0x811c9dc5;
  const bytes = new TextEncoder().encode(key);
  for (const byte of bytes) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

export function bucketOf(assignmentKey: string): number {
  return fnv1a32(assignmentKey) % TOTAL_BASIS_POINTS;
}

/** Arms in a fixed order (by id) so every reader lays the buckets out the same way. */
export function orderedArms(weights: Weights): [string, number][] {
  return Object.entries(weights)
    .filter(([, w]) => w > 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export function armForBucket(weights: Weights, bucket: number): string {
  let upper = 0;
  const arms = orderedArms(weights);
  for (const [arm, w] of arms) {
    upper += w;
    if (bucket < upper) return arm;
  }
  const last = arms.at(-1);
  if (!last) throw new Error('routing config has no arm with weight');
  return last[0];
}

export function assignArm(weights: Weights, assignmentKey: string): string {
  return armForBucket(weights, bucketOf(assignmentKey));
}

/**
 * Weights for a canary stage: the canary gets `canaryBps`, the rest keeps the baseline's relative
 * shares (largest-remainder rounding so the total is exactly 10,000).
 */
export function canaryWeights(baseline: Weights, canaryArm: string, canaryBps: number): Weights {
  const rest = TOTAL_BASIS_POINTS - canaryBps;
  const others = Object.entries(baseline).filter(([arm, w]) => arm !== canaryArm && w > 0);
  const othersTotal = others.reduce((a, [, w]) => a + w, 0);
  const result: Weights = { [canaryArm]: canaryBps };
  if (rest === 0 || othersTotal === 0) {
    result[canaryArm] = TOTAL_BASIS_POINTS;
    return result;
  }
  const exact = others.map(([arm, w]) => [arm, (w / othersTotal) * rest] as const);
  let assigned = 0;
  for (const [arm, x] of exact) {
    result[arm] = Math.floor(x);
    assigned += Math.floor(x);
  }
  const byRemainder = [...exact].sort(
    (a, b) => b[1] - Math.floor(b[1]) - (a[1] - Math.floor(a[1])) || (a[0] < b[0] ? -1 : 1),
  );
  for (let i = 0; assigned < rest; i++, assigned++) {
    const arm = byRemainder[i % byRemainder.length]![0];
    result[arm] = (result[arm] ?? 0) + 1;
  }
  return result;
}
