/** Contract of POST /v1/traces (OTLP/HTTP): GenAI spans become llm.request events. */
import { z } from '@hono/zod-openapi';
import { problemResponse } from '../../lib/schemas';

export const postTracesDoc = {
  method: 'post' as const,
  path: '/v1/traces',
  tags: ['ingest'],
  summary: 'OTLP/HTTP trace export (application/x-protobuf or application/json, gzip accepted)',
  description:
    'Spans with GenAI semantic-convention attributes (gen_ai.request.model, gen_ai.response.model, ' +
    'gen_ai.usage.input_tokens, gen_ai.usage.output_tokens, gen_ai.provider.name/gen_ai.system, error.type) ' +
    'become llm.request events; llmopt.target/segment/arm attributes (span or resource) name where they count, ' +
    'else service.name is the target. Other spans are skipped. Answers once the events are durable; spans ' +
    'that fail validation are reported as OTLP partial success.',
  request: {
    body: {
      content: {
        'application/x-protobuf': { schema: z.string().describe('ExportTraceServiceRequest') },
        'application/json': { schema: z.object({ resourceSpans: z.array(z.unknown()) }) },
      },
      required: true,
    },
  },
  responses: {
    200: {
      description: 'ExportTraceServiceResponse (partialSuccess lists rejected spans)',
      content: {
        'application/json': {
          schema: z.object({
            partialSuccess: z.object({ rejectedSpans: z.number(), errorMessage: z.string() }).optional(),
          }),
        },
      },
    },
    400: problemResponse('Malformed body'),
    413: problemResponse('Too many spans or bytes'),
    415: problemResponse('Unsupported Content-Type'),
    429: problemResponse('Rate limit exceeded'),
    503: problemResponse('Ingest unavailable; retry'),
  },
};
