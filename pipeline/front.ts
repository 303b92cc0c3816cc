/**
 * The ingest front door shared by POST /v1/events, POST /v1/traces and gRPC: batch limits, per-event
 * validation naming index and field, in-batch duplicate ids, a token bucket per source, and the
 * hand-off to the sink (durable before it resolves). Bodies are decoded in pipeline/decoders/.
 */
import { checkEvent, EVENT_REFUSALS, type TelemetryEvent } from '../domain/events';
import { AppError, type FieldIssue } from '../domain/errors';
import type { AcceptedEvent, BatchFormat, IngestSink, RawBatch } from './core/types';
import { splitBatch } from './decoders/body';

export { decodeBody, splitBatch } from './decoders/body';
export type { BatchFormat } from './core/types';

export interface IngestLimits {
  maxBatchEvents: number;
  maxDecompressedBytes: number;
  maxFutureSkewMs: number;
}

/**
 * Why events were refused at the front door, the label set of llmopt_ingest_events_refused_total: the
 * event's own faults (checkEvent), then whole-batch refusals counted per event they turned away.
 */
export const INGEST_REFUSALS = [
  'invalid_json',
  ...EVENT_REFUSALS,
  'duplicate_in_batch',
  'rate_limited',
  'batch_too_large',
  'backpressure',
] as const;
export type IngestRefusal = (typeof INGEST_REFUSALS)[number];

/** Counts what the front door acknowledged and what it turned away (platform/metrics.ts ingestCounters). */
export interface IngestObserver {
  accepted?(events: number): void;
  refused(reason: IngestRefusal, events: number): void;
}

export interface RejectedEvent {
  index: number;
  id?: string;
  reason: IngestRefusal;
  errors: FieldIssue[];
}

export interface BatchOutcome {
  accepted: AcceptedEvent[];
  /** Index in the batch of each accepted event. */
  indexes: number[];
  rejected: RejectedEvent[];
}

/** Validates each element; valid events are accepted even when others in the batch are not. */
export function validateBatch(
  items: readonly unknown[],
  now: number,
  limits: IngestLimits,
  lineErrors = new Map<number, string>(),
): BatchOutcome {
  if (items.length > limits.maxBatchEvents) {
    throw new AppError(
      'payload_too_large',
      `batch has ${items.length} events; at most ${limits.maxBatchEvents} per request`,
    );
  }
  const accepted: AcceptedEvent[] = [];
  const indexes: number[] = [];
  const rejected: RejectedEvent[] = [];
  const firstIndex = new Map<string, number>();
  for (let i = 0; i < items.length; i++) {
    const lineError = lineErrors.get(i);
    if (lineError !== undefined) {
      rejected.push({ index: i, reason: 'invalid_json', errors: [{ path: `[${i}]`, message: lineError }] });
      continue;
    }
    const raw = items[i];
    const rawId = typeof raw === 'object' && raw !== null ? (raw as { id?: unknown }).id : undefined;
    const id = typeof rawId === 'string' ? rawId : undefined;
    const r = checkEvent(raw, now, limits.maxFutureSkewMs);
    if (!r.ok) {
      rejected.push({
        index: i,
        ...(id !== undefined ? { id } : {}),
        reason: r.reason,
        errors: r.issues.map((x) => ({
          path: x.path === '(root)' ? `[${i}]` : `[${i}].${x.path}`,
          message: x.message,
        })),
      });
      continue;
    }
    const prior = firstIndex.get(r.event.id);
    if (prior !== undefined) {
      rejected.push({
        index: i,
        id: r.event.id,
        reason: 'duplicate_in_batch',
        errors: [{ path: `[${i}].id`, message: `duplicate of the event at index ${prior}` }],
      });
      continue;
    }
    firstIndex.set(r.event.id, i);
    accepted.push({ event: r.event, ts: r.ts });
    indexes.push(i);
  }
  return { accepted, indexes, rejected };
}

export type TakeResult = { ok: true } | { ok: false; retryAfterSeconds: number };

/** Per-source token bucket, shared through Redis or per process (createSourceLimiter, common.ts). */
export interface SourceLimiter {
  take(source: string, n: number): TakeResult | Promise<TakeResult>;
}

export interface IngestFront {
  sink: IngestSink;
  limits: IngestLimits;
  buckets?: SourceLimiter;
  observer?: IngestObserver;
}

/**
 * A batch none of whose events is valid ingested nothing and is refused as a whole, naming every
 * event's problems: REST answers 422, gRPC INVALID_ARGUMENT. A batch with at least one valid event is
 * accepted with the rejected ones listed.
 */
export function refuseIfNoneAccepted(result: { accepted: number; rejected: RejectedEvent[] }): void {
  if (result.accepted === 0 && result.rejected.length > 0)
    throw new AppError('validation', `all ${result.rejected.length} events were rejected`, {
      issues: result.rejected.flatMap((r) => r.errors),
      rejected: result.rejected,
    });
}

/**
 * Rate-limits, validates and hands the valid events to the sink; throws AppError for whole-batch faults.
 * With the decoded body the items were split from, the sink may store that once (see RawBatch).
 */
export async function ingestItems(
  front: IngestFront,
  source: string,
  items: readonly unknown[],
  lineErrors?: Map<number, string>,
  body?: { bytes: Buffer; format: BatchFormat },
): Promise<{ accepted: number; rejected: RejectedEvent[] }> {
  const refuse = (reason: IngestRefusal, err: AppError) => {
    front.observer?.refused(reason, items.length);
    return err;
  };
  if (items.length > front.limits.maxBatchEvents) {
    throw refuse(
      'batch_too_large',
      new AppError(
        'payload_too_large',
        `batch has ${items.length} events; at most ${front.limits.maxBatchEvents} per request`,
      ),
    );
  }
  const limited = await front.buckets?.take(source, items.length);
  if (limited && !limited.ok) {
    throw refuse(
      'rate_limited',
      new AppError('rate_limited', `ingest rate limit for ${source} exceeded`, {
        retryAfterSeconds: limited.retryAfterSeconds,
      }),
    );
  }
  const outcome = validateBatch(items, Date.now(), front.limits, lineErrors);
  for (const r of outcome.rejected) front.observer?.refused(r.reason, 1);
  if (outcome.accepted.length > 0) {
    const raw: RawBatch | undefined = body && { ...body, indexes: outcome.indexes };
    try {
      await front.sink.accept(outcome.accepted, raw);
    } catch (err) {
      if (err instanceof AppError)
        front.observer?.refused(
          err.type === 'payload_too_large' ? 'batch_too_large' : 'backpressure',
          outcome.accepted.length,
        );
      throw err;
    }
    front.observer?.accepted?.(outcome.accepted.length);
  }
  return { accepted: outcome.accepted.length, rejected: outcome.rejected };
}

/** POST /v1/events after decompression: split by Content-Type, then ingestItems with the body. */
export function ingestBody(
  front: IngestFront,
  source: string,
  body: Buffer,
  contentType: string | undefined,
): Promise<{ accepted: number; rejected: RejectedEvent[] }> {
  const { items, lineErrors, format } = splitBatch(body.toString('utf8'), contentType);
  return ingestItems(front, source, items, lineErrors, { bytes: body, format });
}

export type { TelemetryEvent };
