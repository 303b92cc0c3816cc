/**
 * Request bodies of POST /v1/events (and the batches the write-ahead log stores): Content-Encoding
 * (gzip, deflate) within a size limit, then a JSON array (or {"events": [...]}) or NDJSON split into
 * items, each validated later by the front door.
 */
import { gunzipSync, inflateSync } from 'node:zlib';
import { AppError } from '../../domain/errors';
import type { BatchFormat } from '../core/types';

/** Decompresses per Content-Encoding, refusing to inflate past the limit (a gzip bomb gets 413). */
export function decodeBody(body: Buffer, contentEncoding: string | undefined, maxBytes: number): Buffer {
  const enc = (contentEncoding ?? 'identity').trim().toLowerCase();
  if (enc === 'identity' || enc === '') return body;
  if (enc !== 'gzip' && enc !== 'deflate') {
    throw new AppError(
      'unsupported_media_type',
      `Content-Encoding "${enc}" is not supported; send gzip, deflate or identity`,
    );
  }
  try {
    return enc === 'gzip'
      ? gunzipSync(body, { maxOutputLength: maxBytes })
      : inflateSync(body, { maxOutputLength: maxBytes });
  } catch (err) {
    if (err instanceof RangeError || (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new AppError('payload_too_large', `decompressed body exceeds ${maxBytes} bytes`);
    }
    throw new AppError('bad_request', `body is not valid ${enc} data`, {
      issues: [{ path: '(body)', message: `invalid ${enc} stream` }],
    });
  }
}

export interface SplitBatch {
  items: unknown[];
  /** Index → why that NDJSON line did not parse (its item is undefined). */
  lineErrors: Map<number, string>;
  format: BatchFormat;
}

/** NDJSON: one item per non-blank line; a line that does not parse is noted, not fatal. */
export function splitNdjson(text: string): SplitBatch {
  const items: unknown[] = [];
  const lineErrors = new Map<number, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      items.push(JSON.parse(line));
    } catch (err) {
      lineErrors.set(items.length, `line is not valid JSON: ${(err as Error).message}`);
      items.push(undefined);
    }
  }
  return { items, lineErrors, format: 'ndjson' };
}

/** A JSON request body, or a 400 naming the body. */
export function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new AppError('bad_request', `request body is not valid JSON: ${(err as Error).message}`, {
      issues: [{ path: '(body)', message: 'malformed JSON' }],
    });
  }
}

/** A JSON array, or an object whose `events` is one. */
export function splitJsonArray(text: string): SplitBatch {
  const parsed = parseJsonBody(text);
  const lineErrors = new Map<number, string>();
  if (Array.isArray(parsed)) return { items: parsed, lineErrors, format: 'json' };
  if (
    typeof parsed === 'object' &&
    parsed !== null &&
    Array.isArray((parsed as { events?: unknown }).events)
  ) {
    return { items: (parsed as { events: unknown[] }).events, lineErrors, format: 'json' };
  }
  throw new AppError('validation', 'expected a JSON array of events (or {"events": [...]})', {
    issues: [{ path: '(root)', message: 'expected an array of events' }],
  });
}

const NDJSON_TYPES = new Set(['application/x-ndjson', 'application/ndjson', 'application/jsonl']);

/** A JSON array (or {"events": [...]}) or NDJSON, by Content-Type; each element is validated later. */
export function splitBatch(text: string, contentType: string | undefined): SplitBatch {
  const type = (contentType ?? 'application/json').split(';')[0]!.trim().toLowerCase();
  if (NDJSON_TYPES.has(type)) return splitNdjson(text);
  if (type !== 'application/json') {
    throw new AppError(
      'unsupported_media_type',
      `Content-Type "${type}" is not accepted; send application/json (an array) or application/x-ndjson`,
    );
  }
  return splitJsonArray(text);
}
