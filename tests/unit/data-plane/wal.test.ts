/**
 * The write-ahead log: appends survive a reopen, a torn tail left by a crash is cut off, concurrent
 * appends get ordered offsets, and a log behind the database's checkpoint continues from it.
 */
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Wal } from '../../../pipeline/adapters/wal';

const dir = () => mkdtempSync(join(tmpdir(), 'llmopt-wal-'));
const read = async (wal: Wal, from = 0) => {
  const out: string[] = [];
  for await (const chunk of wal.read(from))
    for (const r of chunk) out.push(`${r.offset}:${r.payload.toString()}`);
  return out;
};

describe('write-ahead log', () => {
  it('keeps acknowledged records across a reopen and drops a torn tail', async () => {
    const d = dir();
    const wal = await Wal.open(d, { segmentBytes: 1 << 20 });
    const [a, b] = await Promise.all([
      wal.append([Buffer.from('a'), Buffer.from('b')]),
      wal.append([Buffer.from('c')]),
    ]);
    expect([a, b]).toEqual([0, 2]);
    await wal.close();
    // A crash mid-write leaves half a record: a header promising more bytes than follow.
    const [segment] = readdirSync(d);
    appendFileSync(join(d, segment!), Buffer.from([50, 0, 0, 0, 1, 2, 3, 4, 120]));
    const again = await Wal.open(d, { segmentBytes: 1 << 20 });
    expect(await read(again)).toEqual(['0:a', '1:b', '2:c']);
    expect(await again.append([Buffer.from('d')])).toBe(3);
    expect(await read(again, 2)).toEqual(['2:c', '3:d']);
    await again.close();
  });

  it('rotates segments and removes those wholly committed', async () => {
    const d = dir();
    const wal = await Wal.open(d, { segmentBytes: 32 });
    for (let i = 0; i < 10; i++) await wal.append([Buffer.from(`record-${i}`)]);
    expect(readdirSync(d).length).toBeGreaterThan(2);
    await wal.truncateBefore(8);
    expect((await read(wal)).map((r) => r.split(':')[0])).toContain('8');
    expect((await read(wal)).map((r) => r.split(':')[0])).not.toContain('0');
    await wal.close();
  });

  it('gives a batch record consecutive offsets, reads it back whole and keeps older single records', async () => {
    const d = dir();
    const wal = await Wal.open(d, { segmentBytes: 1 << 20 });
    const [a, b, c] = await Promise.all([
      wal.append([Buffer.from('a')]),
      wal.append([{ payload: Buffer.from('three'), count: 3 }, Buffer.from('e')]),
      wal.append([{ payload: Buffer.from('two'), count: 2 }]),
    ]);
    expect([a, b, c]).toEqual([0, 1, 5]);
    await wal.close();
    // A batch torn after its header: the count is there, the payload is not.
    const [segment] = readdirSync(d);
    appendFileSync(join(d, segment!), Buffer.from([40, 0, 0, 0x80, 1, 2, 3, 4, 7, 0, 0, 0, 120]));
    const again = await Wal.open(d, { segmentBytes: 1 << 20 });
    expect(again.nextOffset).toBe(7);
    const records: string[] = [];
    for await (const chunk of again.read(2))
      for (const r of chunk) records.push(`${r.offset}+${r.count}:${r.payload.toString()}`);
    // Offset 2 is inside the batch at 1: the whole record comes back; the reader picks its offsets.
    expect(records).toEqual(['1+3:three', '4+1:e', '5+2:two']);
    expect(await again.append([Buffer.from('f')])).toBe(7);
    await again.close();
  });

  it('cuts a batch record whose count was corrupted (the checksum covers it)', async () => {
    const d = dir();
    const wal = await Wal.open(d, { segmentBytes: 1 << 20 });
    await wal.append([Buffer.from('a'), { payload: Buffer.from('xy'), count: 2 }]);
    await wal.close();
    const [segment] = readdirSync(d);
    const path = join(d, segment!);
    const bytes = readFileSync(path);
    bytes.writeUInt32LE(9, 9 + 8); // the batch's count, after the first record (8 + 1 bytes)
    writeFileSync(path, bytes);
    const again = await Wal.open(d, { segmentBytes: 1 << 20 });
    expect(await read(again)).toEqual(['0:a']);
    expect(again.nextOffset).toBe(1);
    await again.close();
  });

  it('continues from the committed offset when the directory is new or was wiped', async () => {
    const wal = await Wal.open(dir(), { segmentBytes: 1 << 20 });
    await wal.rebase(6800);
    expect(await wal.append([Buffer.from('x')])).toBe(6800);
    await wal.close();
  });
});
