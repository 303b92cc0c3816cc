/** What every gRPC service module shares: AppError → status, request parsing, and the wire shapes. */
import * as grpc from '@grpc/grpc-js';
import { unavailableDependency } from '../../platform/unavailable';
import { z, type ZodType } from 'zod';
import { AppError, type ErrorType } from '../../domain/errors';
import type { Decision as DomainDecision, RoutingConfig as DomainConfig } from '../../domain/model';
import type { Rollout as DomainRollout } from '../../adapters/db/repos/rollouts';
import type { Decision, RoutingConfig } from '../../proto/gen/llmopt/v1/common';
import type { Rollout } from '../../proto/gen/llmopt/v1/rollout';
import type { ApiDeps } from '../lib/types';

const STATUS: Record<ErrorType, grpc.status> = {
  validation: grpc.status.INVALID_ARGUMENT,
  bad_request: grpc.status.INVALID_ARGUMENT,
  unauthorized: grpc.status.UNAUTHENTICATED,
  forbidden: grpc.status.PERMISSION_DENIED,
  not_found: grpc.status.NOT_FOUND,
  conflict: grpc.status.ALREADY_EXISTS,
  precondition_failed: grpc.status.FAILED_PRECONDITION,
  precondition_required: grpc.status.FAILED_PRECONDITION,
  payload_too_large: grpc.status.RESOURCE_EXHAUSTED,
  unsupported_media_type: grpc.status.INVALID_ARGUMENT,
  rate_limited: grpc.status.RESOURCE_EXHAUSTED,
  unavailable: grpc.status.UNAVAILABLE,
  timeout: grpc.status.DEADLINE_EXCEEDED,
};

/** An AppError as a gRPC status; anything else is INTERNAL without internals. */
export function toStatus(err: unknown, deps: Pick<ApiDeps, 'logger'>): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (err instanceof AppError) {
    const issues = err.details.issues ?? [];
    if (issues.length > 0) metadata.set('x-field-errors', JSON.stringify(issues));
    if (err.details.retryAfterSeconds !== undefined)
      metadata.set('retry-after', String(err.details.retryAfterSeconds));
    const fields = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    return { code: STATUS[err.type], details: fields ? `${err.message} (${fields})` : err.message, metadata };
  }
  // A dependency that does not answer is UNAVAILABLE, retryable, as REST answers 503 naming it.
  const dependency = unavailableDependency(err);
  if (dependency) {
    deps.logger.warn({ err: String(err), dependency }, 'dependency unavailable');
    metadata.set('retry-after', '2');
    return {
      code: grpc.status.UNAVAILABLE,
      details: `${dependency} is not answering; retry later`,
      metadata,
    };
  }
  deps.logger.error({ err }, 'unhandled gRPC error');
  return { code: grpc.status.INTERNAL, details: 'internal error; the call can be retried', metadata };
}

/** The error a server stream emits to end with it as its status. */
export function toStreamError(err: unknown, deps: Pick<ApiDeps, 'logger'>): Error {
  const status = toStatus(err, deps);
  return Object.assign(new Error(String(status.details)), status);
}

export function parse<T>(schema: ZodType<T>, value: unknown, field: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new AppError('validation', `invalid ${field}`, {
    issues: r.error.issues.map((i) => ({ path: field, message: i.message })),
  });
}

export const toConfig = (c: DomainConfig): RoutingConfig => ({ ...c, rollout_id: c.rollout_id ?? '' });
export const toDecision = (d: DomainDecision): Decision => ({
  id: d.id,
  target: d.target,
  segment: d.segment,
  strategy: d.strategy,
  kind: d.kind,
  status: d.status,
  confidence: d.confidence,
  explanation: d.explanation,
  created_at: d.created_at,
  details: JSON.parse(JSON.stringify(d)) as Record<string, unknown>,
});
export const toRollout = (r: DomainRollout): Rollout => ({
  id: r.id,
  decision_id: r.decision_id,
  target: r.target,
  segment: r.segment,
  state: r.state,
  current_stage: r.current_stage,
  canary_arm: r.canary_arm,
  baseline_arm: r.baseline_arm,
  updated_at: r.updated_at,
  details: JSON.parse(JSON.stringify(r)) as Record<string, unknown>,
});

// Ids are slugs: never a path or a query fragment.
export const RolloutId = z
  .string()
  .min(1)
  .max(300)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'a rollout id');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
