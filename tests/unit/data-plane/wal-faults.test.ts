/**
 * The write-ahead log under write faults, on the real file system: a full disk or an I/O error during a
 * write or an fdatasync, a short write. Whatever fails, the appends it refuses are not in the log, the
 * appends it acknowledged all are, in order, and appends after the repair are read back at the offsets
 * they were given. A crash between write and fdatasync is tests/integration/data-plane/wal-kill.test.ts.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Wal, WalUnavailableError, type WalBatch } from '../../../pipeline/adapters/wal';
import { FaultyWalFs, type FaultCode, type WriteFault } from '../../helpers/faulty-wal-fs';

const dir = () => mkdtempSync(join(tmpdir(), 'llmopt-walf-'));
const MB = { segmentBytes: 1 << 20 };
const b = (s: string) => Buffer.from(s);

/** What a fresh open of `d` on the real file system reads: `offset+count:payload` per record. */
async function reopen(d: string): Promise<string[]> {
  const wal = await Wal.open(d, MB);
  try {
    return await records(wal);
  } finally {
    await wal.close();
  }
}

async function records(wal: Wal): Promise<string[]> {
  const out: string[] = [];
  for await (const chunk of wal.read(0))
    for (const r of chunk) out.push(`${r.offset}+${r.count}:${r.payload.toString()}`);
  return out;
}

/** The refusal, checked to be the retryable kind. */
async function refused(p: Promise<number>): Promise<WalUnavailableError> {
  const err = await p.then(
    (offset) => new Error(`acknowledged at ${offset}`),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WalUnavailableError);
  return err as WalUnavailableError;
}

async function withFaults(segmentBytes = 1 << 20) {
  const d = dir();
  const fs = new FaultyWalFs();
  const wal = await Wal.open(d, { segmentBytes, fs });
  return { d, fs, wal };
}

describe('write-ahead log under write faults', () => {
  it('refuses the append a full disk tore, and those queued behind it, and keeps the log a log', async () => {
    const { d, fs, wal } = await withFaults();
    expect(await wal.append([b('a'), b('b')])).toBe(0);
    let tornBytes = 0;
    fs.onFault = async () => {
      tornBytes = statSync(join(d, readdirSync(d)[0]!)).size;
    };
    fs.writes.push({ code: 'ENOSPC', after: 11 });
    // `d` is queued behind `c` (group commit) with the offset after it: both are refused.
    const [c, dd] = [wal.append([b('c-torn-by-enospc')]), wal.append([b('d')])];
    expect((await refused(c)).message).toMatch(/ENOSPC/);
    await refused(dd);
    expect(tornBytes).toBeGreaterThan(2 * 9); // the torn bytes really were in the file
    // Repaired: the next append takes the refused offsets and is read back, before and after a reopen.
    expect(await wal.append([b('e')])).toBe(2);
    expect(await records(wal)).toEqual(['0+1:a', '1+1:b', '2+1:e']);
    await wal.close();
    expect(await reopen(d)).toEqual(['0+1:a', '1+1:b', '2+1:e']);
  });

  const cases: { name: string; writes?: WriteFault[]; datasync?: FaultCode }[] = [
    { name: 'an I/O error before any byte is written', writes: [{ code: 'EIO', after: 0 }] },
    { name: 'an I/O error after part of a batch record', writes: [{ code: 'EIO', after: 15 }] },
    { name: 'a short write and then a full disk', writes: [{ short: 3 }, { code: 'ENOSPC', after: 0 }] },
    { name: 'a failed fdatasync after the whole write', datasync: 'EIO' },
  ];
  for (const c of cases) {
    it(`refuses on ${c.name}, and what follows is acknowledged and read back`, async () => {
      const { d, fs, wal } = await withFaults();
      await wal.append([b('a')]);
      fs.writes.push(...(c.writes ?? []));
      if (c.datasync) fs.datasyncs.push(c.datasync);
      const batch: WalBatch = { payload: b('refused-batch-of-three'), count: 3 };
      await refused(wal.append([batch]));
      expect(await wal.append([{ payload: b('xy'), count: 2 }, b('z')])).toBe(1);
      await wal.close();
      expect(await reopen(d)).toEqual(['0+1:a', '1+2:xy', '3+1:z']);
    });
  }

  it('completes a short write: the append is acknowledged whole', async () => {
    const { d, fs, wal } = await withFaults();
    fs.writes.push({ short: 5 }, { short: 1 });
    expect(await wal.append([b('first'), { payload: b('batch'), count: 4 }])).toBe(0);
    expect(await wal.append([b('next')])).toBe(5);
    await wal.close();
    expect(await reopen(d)).toEqual(['0+1:first', '1+4:batch', '5+1:next']);
  });

  it('refuses every append until the tail is repaired, then accepts again', async () => {
    const { d, fs, wal } = await withFaults();
    await wal.append([b('a')]);
    fs.writes.push({ code: 'ENOSPC', after: 10 });
    // The repair right after the failure fails, and so does the one the next append tries first.
    fs.truncates.push('EIO', 'EIO');
    await refused(wal.append([b('torn-tail')]));
    expect((await refused(wal.append([b('while-unrepaired')]))).message).toMatch(/until an earlier failed/);
    // The next append repairs the tail first, then takes the first free offset.
    expect(await wal.append([b('after-repair')])).toBe(1);
    await wal.close();
    expect(await reopen(d)).toEqual(['0+1:a', '1+1:after-repair']);
  });

  it('keeps appending to the current segment when starting the next one fails', async () => {
    const { d, fs, wal } = await withFaults(64);
    await wal.append([b('x'.repeat(40))]);
    fs.opens.push('EMFILE'); // the segment after this append cannot be opened
    expect(await wal.append([b('y'.repeat(40))])).toBe(1);
    fs.opens.push(null, 'EIO'); // created, but its directory entry cannot be synced: removed again
    expect(await wal.append([b('z'.repeat(40))])).toBe(2);
    expect(await wal.append([b('w')])).toBe(3);
    await wal.close();
    // Only the rotation after the last append succeeded: no file was left for offsets 2 or 3.
    expect(readdirSync(d).sort()).toEqual([0, 4].map((n) => `${String(n).padStart(20, '0')}.wal`));
    expect((await reopen(d)).map((r) => r.slice(0, 5))).toEqual(['0+1:x', '1+1:y', '2+1:z', '3+1:w']);
  });

  it('ignores an empty last segment on open (a rotation that never got its first record)', async () => {
    const d = dir();
    const wal = await Wal.open(d, MB);
    await wal.append([b('a'), b('b'), b('c')]);
    await wal.close();
    writeFileSync(join(d, `${'1'.padStart(20, '0')}.wal`), '');
    const again = await Wal.open(d, MB);
    expect(again.nextOffset).toBe(3);
    expect(await again.append([b('d')])).toBe(3);
    await again.close();
    expect(await reopen(d)).toEqual(['0+1:a', '1+1:b', '2+1:c', '3+1:d']);
  });

  it('with retainMs, keeps committed segments until their last append is that old', async () => {
    const d = dir();
    const wal = await Wal.open(d, { segmentBytes: 32, retainMs: 3_600_000 });
    // Each record fills a segment, the last one does not: no rotation is still under way afterwards.
    for (let i = 0; i < 5; i++) await wal.append([b(`record-${i}-padding-padding`)]);
    await wal.append([b('x')]);
    const files = readdirSync(d).sort();
    expect(files.length).toBeGreaterThan(3);
    expect(await wal.truncateBefore(6)).toBe(0);
    const old = new Date(Date.now() - 2 * 3_600_000);
    for (const f of files.slice(0, 2)) utimesSync(join(d, f), old, old);
    expect(await wal.truncateBefore(6)).toBe(2);
    expect(readdirSync(d).sort()).toEqual(files.slice(2));
    await wal.close();
  });
});

/** One step: a few concurrent appends (one group commit or two), with faults queued before them. */
interface Step {
  appends: (string | { batch: string; count: number })[][];
  writes: WriteFault[];
  datasync: FaultCode | null;
  /** The repair after a fault fails once (the tail stays unrepaired until a later append retries it). */
  repairFails: boolean;
  openFails: boolean;
  /** Close and reopen the log after the step (a restart), with no fault pending. */
  restart: boolean;
}

const payload = fc.string({ minLength: 1, maxLength: 12, unit: fc.constantFrom('a', 'b', 'c', '1', '2') });
const writes: fc.Arbitrary<WriteFault[]> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<WriteFault[]>([]) },
  fc.record({ code: fc.constantFrom<FaultCode>('ENOSPC', 'EIO'), after: fc.nat(60) }).map((f) => [f]),
  fc.integer({ min: 1, max: 30 }).map((short) => [{ short }]),
  fc
    .tuple(fc.integer({ min: 1, max: 30 }), fc.nat(10))
    .map(([short, after]): WriteFault[] => [{ short }, { code: 'ENOSPC', after }]),
);
const step: fc.Arbitrary<Step> = fc.record({
  appends: fc.array(
    fc.array(fc.oneof(payload, fc.record({ batch: payload, count: fc.integer({ min: 1, max: 5 }) })), {
      minLength: 1,
      maxLength: 3,
    }),
    { minLength: 1, maxLength: 4 },
  ),
  writes,
  datasync: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, fc.constant<FaultCode>('EIO')),
  repairFails: fc.boolean(),
  openFails: fc.boolean(),
  restart: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
});

describe('write-ahead log under random faults (property)', () => {
  it('reopens to exactly the acknowledged records, in order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), async (steps) => {
        const { d, fs, wal: opened } = await withFaults(96);
        let wal = opened;
        const acked: { first: number; records: string[] }[] = [];
        for (const s of steps) {
          fs.writes.push(...s.writes);
          if (s.datasync) fs.datasyncs.push(s.datasync);
          if (s.repairFails) fs.truncates.push('EIO');
          if (s.openFails) fs.opens.push('EMFILE');
          const results = await Promise.allSettled(
            s.appends.map((a) =>
              wal.append(
                a.map((r) => (typeof r === 'string' ? b(r) : { payload: b(r.batch), count: r.count })),
              ),
            ),
          );
          results.forEach((r, i) => {
            if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(WalUnavailableError);
            else
              acked.push({
                first: r.value,
                records: s.appends[i]!.map((x) =>
                  typeof x === 'string' ? `+1:${x}` : `+${x.count}:${x.batch}`,
                ),
              });
          });
          if (s.restart) {
            fs.clear();
            await wal.close();
            wal = await Wal.open(d, { segmentBytes: 96, fs });
          }
        }
        // Offsets as the log must hold them: each acknowledged record at the offset it was promised.
        const want = acked
          .sort((x, y) => x.first - y.first)
          .flatMap(({ first, records: rs }) => {
            let offset = first;
            return rs.map((r) => {
              const at = offset;
              offset += Number(r.slice(1, r.indexOf(':')));
              return `${at}${r}`;
            });
          });
        expect(await records(wal)).toEqual(want);
        fs.clear();
        await wal.close();
        expect(await reopen(d)).toEqual(want);
        rmSync(d, { recursive: true });
      }),
      { numRuns: 60 },
    );
  });
});
