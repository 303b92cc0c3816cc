/**
 * A process killed with SIGKILL between writing an append and its fdatasync (or halfway through the
 * write): on reopen every acknowledged record is there, in order, the one in flight is there whole or
 * not at all (its client got no answer and resends it; dedup counts it once), and appends after the
 * reopen are read back at the next offsets.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Wal } from '../../../pipeline/adapters/wal';
import { eventually } from '../../helpers/env';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CHILD = fileURLToPath(new URL('./wal-kill-child.ts', import.meta.url));
const N = 40;

async function killDuring(mode: 'after-write' | 'torn', dir: string): Promise<string[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, mode, String(N)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((r) => child.once('exit', r));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  try {
    await eventually(async () => out.includes('stopped\n'), { timeoutMs: 30_000, what: 'the child stopped' });
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  return out
    .split('\n')
    .filter((l) => l.startsWith('ack '))
    .map((l) => l.slice(4).replace(' ', ':'));
}

async function readAll(wal: Wal): Promise<string[]> {
  const out: string[] = [];
  for await (const chunk of wal.read(0))
    for (const r of chunk) out.push(`${r.offset}:${r.payload.toString()}`);
  return out;
}

/** What a reopen reads, and what it reads after appending one more record. */
async function reopenAndAppend(dir: string): Promise<{ records: string[]; at: number; after: string[] }> {
  const wal = await Wal.open(dir, { segmentBytes: 256 });
  try {
    const records = await readAll(wal);
    const at = await wal.append([Buffer.from('after-reopen')]);
    return { records, at, after: await readAll(wal) };
  } finally {
    await wal.close();
  }
}

describe('write-ahead log killed mid-append', () => {
  it('keeps every acknowledged record when killed between write and fdatasync', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmopt-walk-'));
    const acked = await killDuring('after-write', dir);
    expect(acked).toHaveLength(N - 1);
    const { records, at, after } = await reopenAndAppend(dir);
    // The written but unsynced record survives a process kill (the page cache has it), whole.
    expect([acked, [...acked, `${N - 1}:record-${N - 1}`]]).toContainEqual(records);
    expect(at).toBe(records.length);
    expect(after).toEqual([...records, `${at}:after-reopen`]);
  });

  it('keeps every acknowledged record and cuts the torn one when killed mid-write', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmopt-walk-'));
    const acked = await killDuring('torn', dir);
    expect(acked).toHaveLength(N - 1);
    const { records, at, after } = await reopenAndAppend(dir);
    expect(records).toEqual(acked);
    expect(at).toBe(N - 1);
    expect(after).toEqual([...acked, `${N - 1}:after-reopen`]);
  });
});
