/** Exit codes scripts can rely on, and the one-line error a user reads. */

export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  notFound: 3,
  conflict: 4,
  unavailable: 5,
  auth: 6,
  /** A watched run ended rolled back, aborted or failed. */
  runFailed: 7,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports as one line on stderr before exiting with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The exit code of an HTTP error status. */
export function exitCodeOf(status: number): ExitCode {
  if (status === 404) return EXIT.notFound;
  if (status === 401 || status === 403) return EXIT.auth;
  if (status === 409 || status === 412 || status === 428) return EXIT.conflict;
  if (status === 429 || status === 502 || status === 503 || status === 504) return EXIT.unavailable;
  if (status >= 400 && status < 500) return EXIT.usage;
  return EXIT.failure;
}

interface ProblemBody {
  title?: unknown;
  detail?: unknown;
  errors?: unknown;
}

/**
 * One line from an RFC 9457 problem: `404 Not Found: target "x" does not exist`, with the field paths of
 * a validation problem appended (`arms[0].model: Required`).
 */
export function problemLine(status: number, body: unknown, fallback: string): string {
  const p = (typeof body === 'object' && body !== null ? body : {}) as ProblemBody;
  const title = typeof p.title === 'string' ? p.title : fallback;
  const detail = typeof p.detail === 'string' && p.detail !== title ? `: ${p.detail}` : '';
  const fields = Array.isArray(p.errors)
    ? (p.errors as { path?: unknown; message?: unknown }[])
        .map(
          (e) =>
            `${typeof e.path === 'string' ? e.path : ''}: ${typeof e.message === 'string' ? e.message : ''}`,
        )
        .join('; ')
    : '';
  // A detail that already names the fields says it once.
  const named = fields && !detail.includes(fields) ? ` (${fields})` : '';
  return `${status} ${title}${detail}${named}`;
}

/** The error of a failed API call. */
export function apiError(status: number, body: unknown, statusText: string): CliError {
  return new CliError(problemLine(status, body, statusText || 'error'), exitCodeOf(status));
}
