/** pino JSON logs; secrets are redacted by path so no key, token or webhook secret reaches a log line. */
import { pino, type Logger } from 'pino';
import { traceFields } from './tracing';

export type { Logger };

export const REDACT_PATHS = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'api_key',
  '*.api_key',
  'password',
  '*.password',
];

/** JSON lines to stdout, or to `destination` (the supervisor's own log file under `npm start`). */
export function createLogger(
  processName: string,
  level: string,
  destination?: pino.DestinationStream,
): Logger {
  const options = {
    level,
    base: { process: processName, pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    // trace_id and span_id of the span a line is written in, when tracing is on (platform/tracing.ts).
    mixin: traceFields,
  };
  return destination ? pino(options, destination) : pino(options);
}
