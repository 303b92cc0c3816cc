import type { Context } from 'hono';
import { AppError } from '../../../domain/errors';
import { decodeBody, ingestBody, refuseIfNoneAccepted, type RejectedEvent } from '../../../pipeline/front';
import type { ApiDeps, AppBindings } from '../../lib/types';

/** The caller's identity (API key, token subject or address) is the rate-limit source. */
export function ingestSource(c: Context<AppBindings>): string {
  return (c.get('identity') as { id?: string } | undefined)?.id ?? 'anonymous';
}

/** 422 when nothing in the batch was valid, 202 with the rejected indexes otherwise. */
export function ingestAnswer(
  c: Context<AppBindings>,
  result: { accepted: number; rejected: RejectedEvent[] },
): Response {
  refuseIfNoneAccepted(result);
  return c.json(
    { accepted: result.accepted, rejected: result.rejected.length, errors: result.rejected },
    202,
  );
}

export function requireFront(deps: ApiDeps) {
  if (!deps.ingest)
    throw new AppError('unavailable', 'ingest is not configured in this process', { retryAfterSeconds: 5 });
  return deps.ingest;
}

export function eventHandlers(deps: ApiDeps) {
  return {
    async post(c: Context<AppBindings>): Promise<Response> {
      const front = requireFront(deps);
      const raw = Buffer.from(await c.req.arrayBuffer());
      const body = decodeBody(raw, c.req.header('content-encoding'), front.limits.maxDecompressedBytes);
      return ingestAnswer(c, await ingestBody(front, ingestSource(c), body, c.req.header('content-type')));
    },
  };
}
