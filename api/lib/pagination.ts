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

/**
 * One page of a list fetched with `limit + 1` rows: the extra row only tells that a next page exists,
 * and the cursor is the sort key of the last row served.
 */
export function pageOf<T>(
  rows: T[],
  limit: number,
  cursorOf: (last: T) => unknown,
): { items: T[]; next_cursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items,
    next_cursor: rows.length > limit && last !== undefined ? encodeCursor(cursorOf(last)) : null,
  };
}
