/**
 * RFC 9457 problem details for every error the API answers. Validation failures name each field by its
 * JSON path; nothing a caller sends turns into a 500, and no secret is echoed back.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ZodError } from 'zod';
import { AppError, formatPath, type ErrorType, ERROR_TYPES, type FieldIssue } from '../../domain/errors';
import type { Logger } from '../../platform/logger';
import { unavailableDependency } from '../../platform/unavailable';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  request_id?: string;
  errors?: FieldIssue[];
  [extension: string]: unknown;
}

const TITLES: Record<ErrorType, string> = {
  validation: 'Unprocessable Content',
  bad_request: 'Bad Request',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  not_found: 'Not Found',
  conflict: 'Conflict',
  precondition_failed: 'Precondition Failed',
  precondition_required: 'Precondition Required',
  payload_too_large: 'Content Too Large',
  unsupported_media_type: 'Unsupported Media Type',
  rate_limited: 'Too Many Requests',
  unavailable: 'Service Unavailable',
  timeout: 'Service Unavailable',
};

export const PROBLEM_BASE = 'https://llm-auto-optimizer.dev/problems/';

export function problemBody(type: ErrorType, detail: string, extra: Record<string, unknown> = {}): Problem {
  // Extension members come first: one named like a member of the problem itself (a domain error's
  // `status` detail, say) must not replace the HTTP status or the type the answer is sent with.
  return {
    ...extra,
    type: `${PROBLEM_BASE}${type.replace(/_/g, '-')}`,
    title: TITLES[type],
    status: ERROR_TYPES[type],
    detail,
  };
}

export function problem(
  c: Context,
  type: ErrorType,
  detail: string,
  extra: Record<string, unknown> = {},
): Response {
  const body = problemBody(type, detail, {
    instance: c.req.path,
    request_id: c.get('requestId' as never),
    ...extra,
  });
  const headers: Record<string, string> = { 'content-type': 'application/problem+json' };
  if (typeof extra.retry_after === 'number') headers['retry-after'] = String(Math.ceil(extra.retry_after));
  return new Response(JSON.stringify(body), { status: body.status, headers });
}

export function zodIssues(error: ZodError, prefix: (string | number)[] = []): FieldIssue[] {
  return error.issues.map((i) => ({
    path: formatPath([...prefix, ...(i.path as (string | number)[])]),
    message: i.message,
  }));
}

type HookResult = { success: true } | { success: false; error: ZodError; target?: string };

/** A @hono/zod-openapi hook naming each bad field: 422 for a body, `paramType` for a query or path. */
function hookAnswering(paramType: ErrorType) {
  return (result: HookResult, c: Context): Response | undefined => {
    if (result.success) return undefined;
    const where = result.target ?? 'input';
    const issues = zodIssues(result.error, where === 'json' ? [] : [where]);
    return problem(
      c,
      where === 'json' ? 'validation' : paramType,
      `invalid ${where === 'json' ? 'request body' : where}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      { errors: issues },
    );
  };
}

/** Hook for @hono/zod-openapi validators: 400 for unparseable input, 422 naming each bad field. */
export const validationHook = hookAnswering('bad_request');

/** Like `validationHook`, but 422 for a bad query or path too: for routes whose refusals are all 422. */
export const unprocessableHook = hookAnswering('validation');

/**
 * app.onError: typed domain errors keep their status; a dependency that does not answer is a 503 naming
 * it; anything unexpected is a logged 500 without internals.
 */
export function errorHandler(logger: Logger) {
  return (err: Error, c: Context): Response => {
    if (err instanceof AppError) {
      const { issues, retryAfterSeconds, ...rest } = err.details;
      return problem(c, err.type, err.message, {
        ...(issues ? { errors: issues } : {}),
        ...(retryAfterSeconds !== undefined ? { retry_after: retryAfterSeconds } : {}),
        ...rest,
      });
    }
    if (err instanceof HTTPException) {
      const status = err.status;
      const type: ErrorType =
        status === 413
          ? 'payload_too_large'
          : status === 401
            ? 'unauthorized'
            : status === 403
              ? 'forbidden'
              : status === 404
                ? 'not_found'
                : status === 415
                  ? 'unsupported_media_type'
                  : 'bad_request';
      const detail = /malformed json/i.test(err.message)
        ? 'request body is not valid JSON'
        : err.message || TITLES[type];
      return problem(c, type, detail);
    }
    // PostgreSQL class 22 (data exception: out-of-range dates and offsets, invalid text such as lone
    // surrogates or NUL in jsonb) is always caused by a value the caller sent; validation let it through.
    const sqlState = (err as { code?: unknown }).code;
    if (typeof sqlState === 'string' && /^22[0-9A-Z]{3}$/.test(sqlState)) {
      logger.warn(
        { sqlState, path: c.req.path, requestId: c.get('requestId' as never) },
        'input rejected by the database',
      );
      return problem(
        c,
        'bad_request',
        'a value in the request cannot be stored (out of range or invalid text)',
      );
    }
    const dependency = unavailableDependency(err);
    if (dependency) {
      logger.warn(
        { err: String(err), dependency, path: c.req.path, requestId: c.get('requestId' as never) },
        'dependency unavailable',
      );
      return problem(c, 'unavailable', `${dependency} is not answering; retry later`, {
        dependency,
        retry_after: 2,
      });
    }
    logger.error({ err, path: c.req.path, requestId: c.get('requestId' as never) }, 'unhandled error');
    return problem(c, 'unavailable', 'internal error; the request can be retried', {
      status: 500,
      title: 'Internal Server Error',
      type: `${PROBLEM_BASE}internal`,
    });
  };
}
