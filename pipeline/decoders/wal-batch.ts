/**
 * The payloads the embedded pipeline stores in its write-ahead log, and how an offset is read back: a
 * request body stored once for all its accepted events, or one event serialized after validation.
 */
import { checkEvent, type TelemetryEvent } from '../../domain/events';
import type { BatchFormat, RawBatch } from '../core/types';
import type { IngestRecord } from '../core/shard';
import { splitJsonArray, splitNdjson } from './body';

/** One record as the log returns it (pipeline/adapters/wal.ts WalRecord). */
export interface StoredRecord {
  offset: number;
  count: number;
  payload: Buffer;
}

/**
 * A WAL batch payload: [u8 format][u32 n][n × u32 index][body]. The first byte tells it from a
 * single-event record, which is a JSON object and so starts with "{".
 */
const FORMAT_BYTE: Record<BatchFormat, number> = { json: 1, ndjson: 2 };

export function encodeRawBatch(raw: RawBatch): Buffer {
  const n = raw.indexes.length;
  const head = Buffer.allocUnsafe(5 + 4 * n);
  head.writeUInt8(FORMAT_BYTE[raw.format], 0);
  head.writeUInt32LE(n, 1);
  for (let i = 0; i < n; i++) head.writeUInt32LE(raw.indexes[i]!, 5 + 4 * i);
  return Buffer.concat([head, raw.bytes]);
}

/** An offset of a WAL record: its event, or why it is no event (and what it held). */
export type WalEntry = { event: TelemetryEvent; ts: number } | { error: string; payload: unknown };

/**
 * The events of one WAL record, one per offset it takes. A batch's events are validated again exactly
 * as they were accepted (the future bound aside: they were in bounds then); one that no longer passes
 * (a stricter schema after an upgrade) comes back as its reason with what it held, and the pipeline
 * passes its offset as a dead letter. A single-event record holds an event serialized after validation.
 */
export function decodeWalRecord(r: StoredRecord): WalEntry[] {
  const kind = r.payload[0];
  if (kind === 0x7b && r.count === 1) {
    let event: TelemetryEvent;
    try {
      event = JSON.parse(r.payload.toString('utf8')) as TelemetryEvent;
    } catch (err) {
      return [{ error: `invalid_json: ${(err as Error).message}`, payload: null }];
    }
    return [{ event, ts: Date.parse(event.timestamp) }];
  }
  const format = kind === FORMAT_BYTE.json ? 'json' : kind === FORMAT_BYTE.ndjson ? 'ndjson' : undefined;
  const n = r.payload.length >= 5 ? r.payload.readUInt32LE(1) : -1;
  if (format === undefined || n !== r.count || r.payload.length < 5 + 4 * n)
    throw new Error(`write-ahead log record at offset ${r.offset} is not a batch of ${r.count} events`);
  const text = r.payload.subarray(5 + 4 * n).toString('utf8');
  const { items } = format === 'json' ? splitJsonArray(text) : splitNdjson(text);
  const out: WalEntry[] = [];
  for (let i = 0; i < n; i++) {
    const item = items[r.payload.readUInt32LE(5 + 4 * i)];
    const c = checkEvent(item, Number.POSITIVE_INFINITY);
    out.push(
      c.ok
        ? { event: c.event, ts: c.ts }
        : { error: c.issues.map((x) => `${x.path}: ${x.message}`).join('; '), payload: item ?? null },
    );
  }
  return out;
}

/**
 * The shard's records of WAL records, one per offset: an entry that is no event becomes a dead letter
 * for its offset (reported through `onInvalid`), so the shard passes it instead of stopping on it.
 */
export function toIngestRecords(
  stored: readonly StoredRecord[],
  onInvalid: (offset: number, reason: string) => void,
): IngestRecord[] {
  const records: IngestRecord[] = [];
  for (const r of stored) {
    decodeWalRecord(r).forEach((d, i) => {
      if ('event' in d) {
        records.push({ offset: r.offset + i, ...d });
        return;
      }
      onInvalid(r.offset + i, d.error);
      const id = (d.payload as { id?: unknown } | null)?.id;
      records.push({
        offset: r.offset + i,
        event: null,
        ts: 0,
        deadLetter: {
          eventId: typeof id === 'string' ? id : null,
          reason: d.error.startsWith('invalid_json:') ? d.error : `invalid_event: ${d.error}`,
          payload: d.payload,
        },
      });
    });
  }
  return records;
}
