/**
 * What the front door hands the pipeline, shared by the front (pipeline/front.ts), the sinks (WAL,
 * Kafka) and the decoders: kept apart so that none of them imports another for its types.
 */
import type { TelemetryEvent } from '../../domain/events';

export interface AcceptedEvent {
  event: TelemetryEvent;
  ts: number;
}

/** How a request body lists its events: a JSON array (or {"events": [...]}), or NDJSON. */
export type BatchFormat = 'json' | 'ndjson';

/**
 * The decoded request body the accepted events were split from, with the index of each (in order): a
 * sink may store these bytes once rather than serialize every event again.
 */
export interface RawBatch {
  bytes: Buffer;
  format: BatchFormat;
  indexes: readonly number[];
}

/** Where the API hands validated events: durable once `accept` resolves. */
export interface IngestSink {
  readonly kind: 'wal' | 'kafka';
  accept(events: readonly AcceptedEvent[], raw?: RawBatch): Promise<void>;
}
