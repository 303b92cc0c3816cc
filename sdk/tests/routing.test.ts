/**
 * The SDK's sticky hash must agree with the server's (domain/routing.ts) byte for byte, or an application
 * and the optimizer would disagree on which arm served a user. A fixed vector pins the function itself
 * (FNV-1a-32 of "" and "a" are the published reference values); a property test covers everything else.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as server from '../../domain/routing';
import { assignArm, bucketOf, fnv1a32 } from '../src/routing';

const WEIGHTS = { 'gpt-4o': 2500, haiku: 7000, sonnet: 500 };

/** [key, fnv1a32, bucket, arm under WEIGHTS]; shared with domain/routing.ts through the loop below. */
const VECTOR: [string, number, number, string][] = [
  ['', 2166136261, 6261, 'haiku'],
  ['a', 3826002220, 2220, 'gpt-4o'],
  ['user-42', 39875499, 5499, 'haiku'],
  ['session:9f8e7d', 1833971560, 1560, 'gpt-4o'],
  ['Zoë', 3265445340, 5340, 'haiku'],
  ['用户-七', 3530161193, 1193, 'gpt-4o'],
  ['🙂emoji', 3437943151, 3151, 'haiku'],
  ['x'.repeat(300), 2533439733, 9733, 'sonnet'],
];

describe('sticky hash', () => {
  it('matches the shared test vector, in the SDK and on the server', () => {
    for (const [key, hash, bucket, arm] of VECTOR) {
      expect([fnv1a32(key), bucketOf(key), assignArm(WEIGHTS, key)]).toEqual([hash, bucket, arm]);
      expect([server.fnv1a32(key), server.bucketOf(key), server.assignArm(WEIGHTS, key)]).toEqual([
        hash,
        bucket,
        arm,
      ]);
    }
  });

  it('assigns every key and weight table exactly as the server does', () => {
    const weights = fc
      .array(fc.integer({ min: 0, max: 10_000 }), { minLength: 1, maxLength: 6 })
      .filter((ws) => ws.some((w) => w > 0))
      .map((ws) => Object.fromEntries(ws.map((w, i) => [`arm-${String.fromCharCode(102 - i)}`, w])));
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), weights, (key, w) => {
        expect(fnv1a32(key)).toBe(server.fnv1a32(key));
        expect(assignArm(w, key)).toBe(server.assignArm(w, key));
      }),
      { numRuns: 2000 },
    );
  });
});
