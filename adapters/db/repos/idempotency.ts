/**
 * Idempotency-Key records in PostgreSQL, so a repeat reaches the first result on any API replica. A row
 * is claimed before the work starts (the primary key decides a race) and completed with the response.
 */
import type { Queryable } from '../pool';

export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type Claim =
  | { kind: 'claimed' }
  | { kind: 'replay'; fingerprint: string; method: string; path: string; response: StoredResponse }
  | { kind: 'in_progress'; fingerprint: string };

export function createIdempotencyRepo(db: Queryable) {
  return {
    async claim(input: {
      identity: string;
      key: string;
      method: string;
      path: string;
      fingerprint: string;
      ttlSeconds: number;
      /**
       * A claim still unfinished after this long is taken over by the same request: its owner died (a
       * crash or a kill) or is past its request timeout, and the caller's retry must not wait for the TTL.
       */
      leaseSeconds?: number;
    }): Promise<Claim> {
      // An expired record is forgotten, so a key can be reused once its retention has passed.
      await db.query(
        `DELETE FROM idempotency_keys WHERE identity = $1 AND key = $2 AND created_at < now() - make_interval(secs => $3)`,
        [input.identity, input.key, input.ttlSeconds],
      );
      const inserted = await db.query(
        `INSERT INTO idempotency_keys (identity, key, method, path, fingerprint) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (identity, key) DO NOTHING`,
        [input.identity, input.key, input.method, input.path, input.fingerprint],
      );
      if ((inserted.rowCount ?? 0) > 0) return { kind: 'claimed' };
      if (input.leaseSeconds !== undefined) {
        const taken = await db.query(
          `UPDATE idempotency_keys SET created_at = now()
           WHERE identity = $1 AND key = $2 AND status IS NULL AND fingerprint = $3
             AND created_at < now() - make_interval(secs => $4)`,
          [input.identity, input.key, input.fingerprint, input.leaseSeconds],
        );
        if ((taken.rowCount ?? 0) > 0) return { kind: 'claimed' };
      }
      const r = await db.query<{
        fingerprint: string;
        method: string;
        path: string;
        status: number | null;
        headers: Record<string, string> | null;
        body: string | null;
      }>(
        'SELECT fingerprint, method, path, status, headers, body FROM idempotency_keys WHERE identity = $1 AND key = $2',
        [input.identity, input.key],
      );
      const row = r.rows[0];
      if (!row) return this.claim(input);
      if (row.status === null) return { kind: 'in_progress', fingerprint: row.fingerprint };
      return {
        kind: 'replay',
        fingerprint: row.fingerprint,
        method: row.method,
        path: row.path,
        response: { status: row.status, headers: row.headers ?? {}, body: row.body ?? '' },
      };
    },

    async complete(identity: string, key: string, response: StoredResponse): Promise<void> {
      await db.query(
        // The first completion wins: a claim taken over after its lease may still be finished by its first owner.
        'UPDATE idempotency_keys SET status = $3, headers = $4, body = $5, completed_at = now() WHERE identity = $1 AND key = $2 AND status IS NULL',
        [identity, key, response.status, JSON.stringify(response.headers), response.body],
      );
    },

    /** Forgets a claim whose work failed on our side, so the caller's retry runs it again. */
    async release(identity: string, key: string): Promise<void> {
      await db.query('DELETE FROM idempotency_keys WHERE identity = $1 AND key = $2 AND status IS NULL', [
        identity,
        key,
      ]);
    },
  };
}

export type IdempotencyRepo = ReturnType<typeof createIdempotencyRepo>;
