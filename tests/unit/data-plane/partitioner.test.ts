/**
 * Our producers' partitioner must put every key in the partition kafkajs's DefaultPartitioner (and the
 * Java client) would: a request and its later feedback, produced by different processes, have to meet
 * in one partition for the join.
 */
import fc from 'fast-check';
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { KeyPartitioner, murmur2 } from '../../../pipeline/adapters/kafka';

const metadata = (n: number): PartitionMetadata[] =>
  Array.from({ length: n }, (_, partitionId) => ({
    partitionErrorCode: 0,
    partitionId,
    leader: 1,
    replicas: [1],
    isr: [1],
  }));

describe('KeyPartitioner', () => {
  it('matches the Java client on known murmur2 values', () => {
    // Values from the Java client's UtilsTest (murmur2 of these UTF-8 strings).
    expect(murmur2(Buffer.from('21'))).toBe(-973932308);
    expect(murmur2(Buffer.from('foobar'))).toBe(-790332482);
    expect(murmur2(Buffer.from('a-little-bit-long-string'))).toBe(-985981536);
    expect(murmur2(Buffer.from('a-little-bit-longer-string'))).toBe(-1486304829);
    expect(murmur2(Buffer.from('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8'))).toBe(-58897971);
  });

  it('chooses the partition kafkajs DefaultPartitioner chooses, for any key and partition count', () => {
    const ours = KeyPartitioner();
    const theirs = Partitioners.DefaultPartitioner();
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 40 }), fc.uint8Array()),
        fc.integer({ min: 1, max: 64 }),
        (raw, n) => {
          const key = raw instanceof Uint8Array ? Buffer.from(raw) : raw;
          const args = { topic: 't', partitionMetadata: metadata(n), message: { key, value: 'v' } };
          expect(ours(args)).toBe(theirs(args));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('keeps an explicit partition and spreads keyless messages over the partitions', () => {
    const ours = KeyPartitioner();
    const meta = metadata(4);
    expect(
      ours({ topic: 't', partitionMetadata: meta, message: { key: 'k', value: 'v', partition: 3 } }),
    ).toBe(3);
    const seen = new Set<number>();
    for (let i = 0; i < 8; i++)
      seen.add(ours({ topic: 't', partitionMetadata: meta, message: { value: 'v' } }));
    expect(seen.size).toBe(4);
  });
});
