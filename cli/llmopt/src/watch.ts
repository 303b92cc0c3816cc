/**
 * `--watch`: polls a run until it ends and shows it live. On a terminal the view is redrawn in place;
 * piped, one line is printed per change, so a log reads as a history. The exit code says how it ended.
 */
import { EXIT, type ExitCode } from './errors';
import { emit, type Out } from './output';

export interface WatchOptions {
  out: Out;
  intervalMs: number;
  /** Redraw in place (a terminal) rather than appending lines. */
  live: boolean;
}

export interface Snapshot {
  /** The full view (table output). */
  frame: string;
  /** One line saying where the run is (piped output, and the last line on a terminal). */
  line: string;
  /** The exit code once the run has ended; undefined while it goes on. */
  ended?: ExitCode;
  /** What -o json|yaml prints when it ends. */
  data: unknown;
}

const clock = () => new Date().toISOString().slice(11, 19);

/** Polls `read` every intervalMs until a snapshot says the run ended; returns its exit code. */
export async function watch(read: () => Promise<Snapshot>, o: WatchOptions): Promise<ExitCode> {
  let drawnLines = 0;
  let lastLine = '';
  for (;;) {
    const s = await read();
    if (o.out.format === 'table') {
      if (o.live) {
        // Lines cut to the terminal's width: a wrapped line would throw the redraw's line count off.
        const cols = process.stdout.columns || 200;
        const text = `${s.frame}\n\n${clock()}  ${s.line}`
          .split('\n')
          .map((l) => ([...l].length < cols ? l : `${[...l].slice(0, cols - 2).join('')}…`))
          .join('\n');
        // Back to the first line of the previous frame, clear to the end of the screen, draw again.
        process.stdout.write(`${drawnLines ? `\x1b[${drawnLines}F\x1b[J` : ''}${text}\n`);
        drawnLines = text.split('\n').length;
      } else if (s.line !== lastLine) {
        o.out.write(`${clock()}  ${s.line}`);
      }
    }
    lastLine = s.line;
    if (s.ended !== undefined) {
      if (o.out.format !== 'table') emit(o.out, s.data, () => '');
      else if (!o.live) o.out.write(s.frame);
      return s.ended;
    }
    await new Promise((r) => setTimeout(r, o.intervalMs));
  }
}

/** Exit code of a finished rollout state, undefined while it runs. */
export function rolloutExit(state: string): ExitCode | undefined {
  if (state === 'promoted') return EXIT.ok;
  if (state === 'rolled_back' || state === 'aborted' || state === 'failed') return EXIT.runFailed;
  return undefined;
}

/** Exit code of a finished cycle status, undefined while it runs. */
export function cycleExit(status: string): ExitCode | undefined {
  if (status === 'running') return undefined;
  return status === 'completed' ? EXIT.ok : EXIT.runFailed;
}
