import type { Context } from 'hono';
import { AppError } from '../../../domain/errors';
import { decodeBody, ingestItems } from '../../../pipeline/front';
import {
  decodeOtlpJson,
  decodeOtlpProtobuf,
  encodeOtlpResponse,
  mapSpans,
} from '../../../pipeline/decoders/otlp';
import type { ApiDeps, AppBindings } from '../../lib/types';
import { ingestSource, requireFront } from '../events/events.handlers';

export function traceHandlers(deps: ApiDeps) {
  return {
    async post(c: Context<AppBindings>): Promise<Response> {
      const front = requireFront(deps);
      const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      const protobuf = type === 'application/x-protobuf' || type === 'application/protobuf';
      if (!protobuf && type !== 'application/json') {
        throw new AppError(
          'unsupported_media_type',
          `Content-Type "${type}" is not OTLP/HTTP; send application/x-protobuf or application/json`,
        );
      }
      const raw = Buffer.from(await c.req.arrayBuffer());
      const body = decodeBody(raw, c.req.header('content-encoding'), front.limits.maxDecompressedBytes);
      const request = protobuf ? decodeOtlpProtobuf(body) : decodeOtlpJson(body.toString('utf8'));
      let events: unknown[];
      try {
        ({ events } = mapSpans(request, protobuf));
      } catch (err) {
        // A JSON body that parses but is not shaped like ExportTraceServiceRequest (e.g. scopeSpans: 5).
        throw new AppError(
          'bad_request',
          `not an OTLP ExportTraceServiceRequest: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      const result = await ingestItems(front, ingestSource(c), events);
      const message = result.rejected
        .slice(0, 20)
        .map((r) => r.errors.map((e) => `span${e.path}: ${e.message}`).join('; '))
        .join('; ');
      if (protobuf) {
        return new Response(encodeOtlpResponse(result.rejected.length, message), {
          status: 200,
          headers: { 'content-type': 'application/x-protobuf' },
        });
      }
      return c.json(
        result.rejected.length > 0
          ? { partialSuccess: { rejectedSpans: result.rejected.length, errorMessage: message } }
          : {},
        200,
      );
    },
  };
}
