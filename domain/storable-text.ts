/**
 * Text every event string must be to be stored exactly: PostgreSQL refuses NUL in text and in jsonb, and
 * a lone surrogate has no UTF-8 form (text would store U+FFFD instead, jsonb refuses it). Both are
 * refused at the boundary, naming the field; everything else (control characters, non-characters such as
 * U+FFFE, any assigned or unassigned code point) is stored and read back as sent. Pure and zod-free, so
 * the repositories can use it without building schemas.
 */
export const NUL_MESSAGE = 'must not contain NUL (U+0000)';
export const LONE_SURROGATE_MESSAGE = 'must not contain a lone surrogate (a UTF-16 half with no UTF-8 form)';
const NUL_OR_LONE_SURROGATE = /[\0\p{Cs}]/u;

/** True when `s` can be stored in a PostgreSQL text or jsonb value and read back exactly. */
export const isStorableText = (s: string): boolean => !NUL_OR_LONE_SURROGATE.test(s);

/** True when every string and key in `v` is storable text, so jsonb holds it exactly. */
export function isStorableValue(v: unknown, depth = 0): boolean {
  if (typeof v === 'string') return isStorableText(v);
  if (v === null || typeof v !== 'object') return true;
  if (depth > 64) return false;
  if (Array.isArray(v)) return v.every((x) => isStorableValue(x, depth + 1));
  return Object.entries(v).every(([k, x]) => isStorableText(k) && isStorableValue(x, depth + 1));
}

/** `s` with each NUL and lone surrogate replaced by U+FFFD: for our own messages that quote input. */
export const toStorableText = (s: string): string => s.replace(/[\0\p{Cs}]/gu, '\uFFFD');
