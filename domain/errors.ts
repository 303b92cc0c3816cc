/**
 * The error taxonomy. Every failure a caller can cause or see has one of these types; the API maps
 * them to HTTP statuses (problem+json) and activities to non-retryable ApplicationFailure types.
 */
export const ERROR_TYPES = {
  validation: 422,
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  precondition_failed: 412,
  precondition_required: 428,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  unavailable: 503,
  timeout: 503,
} as const;

export type ErrorType = keyof typeof ERROR_TYPES;

export interface FieldIssue {
  /** JSON path of the offending field, e.g. "arms[1].model" or "[3].latency_ms". */
  path: string;
  message: string;
}

export class AppError extends Error {
  override name = 'AppError';
  constructor(
    readonly type: ErrorType,
    message: string,
    readonly details: { issues?: FieldIssue[]; retryAfterSeconds?: number; [k: string]: unknown } = {},
  ) {
    super(message);
  }
  get status(): number {
    return ERROR_TYPES[this.type];
  }
}

export const notFound = (what: string) => new AppError('not_found', `${what} not found`);
export const conflict = (message: string, details: Record<string, unknown> = {}) =>
  new AppError('conflict', message, details);

/** Non-retryable ApplicationFailure types thrown by activities; workflows decide by them. */
export const FAILURE_TYPES = {
  TargetNotFound: 'TargetNotFound',
  InvalidConfig: 'InvalidConfig',
  StaleConfigVersion: 'StaleConfigVersion',
  RolloutConflict: 'RolloutConflict',
  InvalidInput: 'InvalidInput',
  DeliveryRejected: 'DeliveryRejected',
} as const;
export type FailureType = (typeof FAILURE_TYPES)[keyof typeof FAILURE_TYPES];

/** Format a zod-style path array as a JSON path string. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(root)';
}
