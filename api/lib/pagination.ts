/** Opaque cursors: base64url JSON of the sort key of the last row served. */
import { AppError } from '../../domain/errors';

export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function decodeCursor<T>(cursor: string | undefined, validate: (v: unknown) => v is T): T | undefined {
  if (cursor === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (validate(v)) return v;
  } catch {
    // fall through to the error below
  }
  throw new AppError('bad_request', 'cursor is not one this API issued', {
    issues: [{ path: 'query.cursor', message: 'invalid cursor' }],
  });
}
