/**
 * llmopt.v1.IngestService. IngestStream authenticates from the call's metadata before it reads a message,
 * then ingests its messages one at a time as they arrive (the stream is paused while one is ingested),
 * so a stream costs the memory of the messages in hand, not of the whole stream. A stream is
 * bounded in messages and bytes (GRPC_INGEST_STREAM_MAX_MESSAGES / _BYTES): past either it ends with
 * RESOURCE_EXHAUSTED saying how much was accepted (trailer `x-ingested-messages` on any error), and the
 * client sends the rest on a new stream. A message none of whose events is valid ends the stream with
 * INVALID_ARGUMENT naming each event's problems (IngestBatch answers such a batch the same way, as REST
 * answers 422), with the same trailer. grpc-js reads ahead up to 16 messages of a stream (its object
 * stream's high-water mark), each at most `grpc.max_receive_message_length` (API_MAX_BODY_BYTES).
 */
import type * as grpc from '@grpc/grpc-js';
import { AppError } from '../../domain/errors';
import { ingestItems, refuseIfNoneAccepted } from '../../pipeline/front';
import {
  IngestServiceService,
  type IngestBatchRequest,
  type IngestResponse,
  type IngestServiceServer,
} from '../../proto/gen/llmopt/v1/ingest';
import type { Identity } from '../lib/permissions';
import type { ApiDeps } from '../lib/types';
import { toStatus } from './common';
import type { Guard, StreamLease } from './guard';

// The encoded size of each streamed message, noted as it is decoded (grpc-js hands the handler objects).
const encodedBytes = new WeakMap<object, number>();

/** The service definition, with IngestStream's decoder noting each message's encoded size. */
export const IngestServiceDefinition = {
  ...IngestServiceService,
  ingestStream: {
    ...IngestServiceService.ingestStream,
    requestDeserialize: (value: Buffer): IngestBatchRequest => {
      const message = IngestServiceService.ingestStream.requestDeserialize(value);
      encodedBytes.set(message, value.length);
      return message;
    },
  },
} as const;

export function ingestService(deps: ApiDeps, guard: Guard): IngestServiceServer {
  const front = () => {
    if (!deps.ingest)
      throw new AppError('unavailable', 'ingest is not configured in this process', { retryAfterSeconds: 5 });
    return deps.ingest;
  };

  /** Ingests one message into `out`, its events numbered from `offset`; a message of only invalid events is refused, as REST refuses such a batch. */
  async function ingestInto(out: IngestResponse, b: IngestBatchRequest, identity: Identity, offset: number) {
    const r = await ingestItems(front(), identity.id, b.events);
    refuseIfNoneAccepted({
      accepted: r.accepted,
      rejected: r.rejected.map((e) => ({ ...e, index: offset + e.index })),
    });
    out.accepted += r.accepted;
    out.rejected += r.rejected.length;
    out.errors.push(
      ...r.rejected.map((e) => ({
        index: offset + e.index,
        errors: e.errors.map((i) => `${i.path}: ${i.message}`),
      })),
    );
  }

  const ingestStream: grpc.handleClientStreamingCall<IngestBatchRequest, IngestResponse> = (
    call,
    callback,
  ) => {
    let done = false;
    let lease: StreamLease | undefined;
    const out: IngestResponse = { accepted: 0, rejected: 0, errors: [] };
    // Messages wholly ingested: on an error the trailer says how many, so the client resends the rest.
    let ingested = 0;
    const finish = (err: unknown) => {
      if (done) return;
      done = true;
      lease?.release();
      call.pause();
      if (!err) return callback(null, out);
      const status = toStatus(err, deps);
      status.metadata?.set('x-ingested-messages', String(ingested));
      callback(status);
    };
    call.on('cancelled', () => {
      done = true;
      lease?.release();
    });
    call.on('error', () => undefined);

    // Nothing is read from the call until its credential and permission are settled.
    guard
      .authorize(call)
      .then((authorized) => {
        if (done) return;
        front();
        const held = guard.openStream(call, authorized, finish);
        lease = held;
        let messages = 0;
        let bytes = 0;
        let events = 0;
        const exhausted = (reason: 'message_limit' | 'byte_limit', what: string) => {
          guard.counters.streamEnded(reason);
          return new AppError(
            'rate_limited',
            `${what}; the first ${ingested} messages (${out.accepted} events accepted, ${out.rejected} rejected) were ingested, send the rest on a new stream`,
          );
        };
        const handle = async (b: IngestBatchRequest) => {
          messages++;
          bytes += encodedBytes.get(b) ?? 0;
          const { GRPC_INGEST_STREAM_MAX_MESSAGES: maxMessages, GRPC_INGEST_STREAM_MAX_BYTES: maxBytes } =
            deps.env;
          if (messages > maxMessages)
            throw exhausted(
              'message_limit',
              `more than ${maxMessages} messages in one stream (GRPC_INGEST_STREAM_MAX_MESSAGES)`,
            );
          if (bytes > maxBytes)
            throw exhausted(
              'byte_limit',
              `more than ${maxBytes} bytes in one stream (GRPC_INGEST_STREAM_MAX_BYTES)`,
            );
          await held.confirm();
          await ingestInto(out, b, authorized.identity, events);
          events += b.events.length;
          ingested++;
        };
        // One message in hand at a time: the stream is paused while it is ingested.
        let pending = Promise.resolve();
        call.on('data', (b: IngestBatchRequest) => {
          call.pause();
          pending = handle(b).then(
            () => {
              if (!done) call.resume();
            },
            (err: unknown) => finish(err),
          );
        });
        call.on('end', () => {
          void pending.then(() => finish(undefined));
        });
      })
      .catch(finish);
  };

  return {
    ingestBatch: guard.unary(async (req, identity) => {
      const out: IngestResponse = { accepted: 0, rejected: 0, errors: [] };
      await ingestInto(out, req, identity, 0);
      return out;
    }),
    ingestStream,
  };
}
