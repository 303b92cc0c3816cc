/**
 * Child of wal-kill.test.ts: appends `n` records one by one to the log in `dir`, printing "ack <i>" as
 * each is acknowledged, and stops for good during the last one, printing "stopped", so the parent can
 * SIGKILL it there: `after-write` once its bytes are written and before its fdatasync, `torn` after
 * only part of them.
 */
import { Wal } from '../../../pipeline/adapters/wal';
import { FaultyWalFs } from '../../helpers/faulty-wal-fs';

const [dir, mode, count] = process.argv.slice(2);
const n = Number(count);
const stop = async () => {
  process.stdout.write('stopped\n');
  setInterval(() => undefined, 60_000); // alive until killed
  await new Promise(() => undefined);
};

const fs = new FaultyWalFs();
const wal = await Wal.open(dir!, { segmentBytes: 256, fs });
for (let i = 0; i < n; i++) {
  if (i === n - 1 && mode === 'after-write') fs.afterWrite = stop;
  if (i === n - 1 && mode === 'torn') {
    fs.writes.push({ code: 'EIO', after: 6 });
    fs.onFault = stop;
  }
  const offset = await wal.append([Buffer.from(`record-${i}`)]);
  process.stdout.write(`ack ${offset} record-${i}\n`);
}
