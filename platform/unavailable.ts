/**
 * Which dependency an error says is unreachable, as opposed to a request it refused: the API answers
 * those with 503 naming the dependency and a Retry-After, since the caller did nothing wrong and the
 * same request succeeds once the dependency is back (a 500 would say the opposite).
 */
import { status } from '@grpc/grpc-js';
import { isGrpcServiceError } from '@temporalio/client';

export type UnavailableDependency = 'postgres' | 'temporal';

/**
 * Socket failures. In the API process only the pg pool reaches a handler with these: Temporal's errors
 * are gRPC statuses, Redis and Kafka failures are caught where they happen (fallbacks, 503 from the sink).
 */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** SQLSTATE class 08 (connection exception), 57P01–57P03 (shutting down, starting up), 53300 (too many connections). */
const PG_UNAVAILABLE_STATE = /^(08[0-9A-Z]{3}|57P0[123]|53300)$/;
/** What pg and pg-pool throw when the server goes away mid-session or a connection cannot be had in time. */
const PG_UNAVAILABLE_MESSAGE =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly)/;
const GRPC_UNAVAILABLE = new Set<number>([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]);

export function unavailableDependency(err: unknown): UnavailableDependency | undefined {
  // Temporal's client wraps the gRPC error (ServiceError { cause }): look a few causes deep.
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (isGrpcServiceError(e)) return GRPC_UNAVAILABLE.has(e.code) ? 'temporal' : undefined;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (SOCKET_CODES.has(code) || PG_UNAVAILABLE_STATE.test(code)))
      return 'postgres';
    if (PG_UNAVAILABLE_MESSAGE.test(e.message)) return 'postgres';
  }
  return undefined;
}
