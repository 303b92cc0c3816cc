/**
 * A process's log file under `npm start`: `<dir>/<name>.log`, rotated by size to `<name>.log.1` …
 * `<name>.log.<keep>` (the oldest dropped). Written line by line, so a rotation never splits a JSON
 * line across two files. pino-roll numbers every file it writes and points one shared `current.log` at
 * the newest, which does not give each process of one folder a stable `<process>.log`.
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

export interface LogFile {
  path: string;
  /** Appends output; a trailing partial line waits for its end. */
  write(chunk: string | Buffer): void;
  /** Writes a pending partial line and closes the file. */
  close(): void;
}

export const LOG_FILE_MAX_BYTES = 10 * 1024 * 1024;
export const LOG_FILE_KEEP = 3;

export function openLogFile(
  dir: string,
  name: string,
  opts: { maxBytes?: number; keep?: number } = {},
): LogFile {
  const maxBytes = opts.maxBytes ?? LOG_FILE_MAX_BYTES;
  const keep = opts.keep ?? LOG_FILE_KEEP;
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.log`);
  let fd = openSync(path, 'a');
  let size = fstatSync(fd).size;
  let pending = '';

  const rotate = () => {
    closeSync(fd);
    rmSync(`${path}.${keep}`, { force: true });
    for (let i = keep - 1; i >= 1; i--)
      if (existsSync(`${path}.${i}`)) renameSync(`${path}.${i}`, `${path}.${i + 1}`);
    renameSync(path, `${path}.1`);
    fd = openSync(path, 'a');
    size = 0;
  };
  const append = (text: string) => {
    if (!text) return;
    if (size > 0 && size + Buffer.byteLength(text) > maxBytes) rotate();
    size += writeSync(fd, text);
  };

  return {
    path,
    write(chunk) {
      const text = pending + chunk.toString();
      const end = text.lastIndexOf('\n');
      if (end < 0) {
        pending = text;
        return;
      }
      pending = text.slice(end + 1);
      append(text.slice(0, end + 1));
    },
    close() {
      append(pending);
      pending = '';
      closeSync(fd);
    },
  };
}
