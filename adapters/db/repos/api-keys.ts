/**
 * API keys: `llmo_<prefix>_<secret>`. The prefix is a public lookup handle; only a SHA-256 digest of the
 * whole key is stored. The secret is 256 random bits, so a slow password hash (bcrypt, argon2) would add
 * latency to every request without making a key any harder to guess; a leaked table yields no key.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Queryable } from '../pool';

export const API_KEY_PATTERN = /^llmo_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

export interface ApiKeyRecord {
  id: string;
  prefix: string;
  name: string;
  roles: string[];
  created_by: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

interface ApiKeyRow extends Omit<ApiKeyRecord, 'created_at' | 'expires_at' | 'last_used_at' | 'revoked_at'> {
  secret_hash: Buffer;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const toRecord = (r: ApiKeyRow): ApiKeyRecord => ({
  id: r.id,
  prefix: r.prefix,
  name: r.name,
  roles: r.roles,
  created_by: r.created_by,
  created_at: r.created_at.toISOString(),
  expires_at: iso(r.expires_at),
  last_used_at: iso(r.last_used_at),
  revoked_at: iso(r.revoked_at),
});

const digest = (key: string) => createHash('sha256').update(key, 'utf8').digest();

/** A stored key as the authenticator needs it: the digest to compare and what it grants. */
export interface ApiKeyCredential {
  record: ApiKeyRecord;
  matches(presented: string): boolean;
}

export function generateApiKey(): { key: string; prefix: string } {
  // 12 base36 characters from random bytes: ~62 bits, enough to keep prefixes unique and unguessable.
  const prefix = Array.from(randomBytes(12), (b) => (b % 36).toString(36)).join('');
  return { key: `llmo_${prefix}_${randomBytes(32).toString('base64url')}`, prefix };
}

export function createApiKeysRepo(db: Queryable) {
  return {
    /** Creates a key and returns its only plaintext copy; the caller shows it once. */
    async create(input: { name: string; roles: string[]; createdBy: string; expiresAt?: string | null }) {
      const { key, prefix } = generateApiKey();
      const r = await db.query<ApiKeyRow>(
        `INSERT INTO api_keys (id, prefix, secret_hash, name, roles, created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
        [
          randomUUID(),
          prefix,
          digest(key),
          input.name,
          input.roles,
          input.createdBy,
          input.expiresAt ?? null,
        ],
      );
      return { key, record: toRecord(r.rows[0]!) };
    },

    async findByPrefix(prefix: string): Promise<ApiKeyCredential | null> {
      const r = await db.query<ApiKeyRow>('SELECT * FROM api_keys WHERE prefix = $1', [prefix]);
      const row = r.rows[0];
      if (!row) return null;
      return {
        record: toRecord(row),
        matches: (presented) => {
          const d = digest(presented);
          return d.length === row.secret_hash.length && timingSafeEqual(d, row.secret_hash);
        },
      };
    },

    async get(id: string): Promise<ApiKeyRecord | null> {
      const r = await db.query<ApiKeyRow>('SELECT * FROM api_keys WHERE id = $1', [id]);
      return r.rows[0] ? toRecord(r.rows[0]) : null;
    },

    async list(opts: {
      limit: number;
      before?: { created_at: string; id: string };
      includeRevoked: boolean;
    }) {
      const r = await db.query<ApiKeyRow>(
        `SELECT * FROM api_keys
          WHERE ($1::boolean OR revoked_at IS NULL)
            AND ($2::timestamptz IS NULL OR (date_trunc('milliseconds', created_at), id) < ($2::timestamptz, $3::uuid))
          ORDER BY date_trunc('milliseconds', created_at) DESC, id DESC LIMIT $4`,
        [opts.includeRevoked, opts.before?.created_at ?? null, opts.before?.id ?? null, opts.limit],
      );
      return r.rows.map(toRecord);
    },

    /** Revokes once; a second revoke returns the record unchanged. */
    async revoke(id: string): Promise<ApiKeyRecord | null> {
      const r = await db.query<ApiKeyRow>(
        'UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING *',
        [id],
      );
      return r.rows[0] ? toRecord(r.rows[0]) : null;
    },

    async touch(id: string): Promise<void> {
      await db.query('UPDATE api_keys SET last_used_at = now() WHERE id = $1', [id]);
    },
  };
}

export type ApiKeysRepo = ReturnType<typeof createApiKeysRepo>;

/**
 * `npm start` on a fresh machine: an admin key written to `file` (mode 600) so the user has a working
 * credential. Kept while it still authenticates; replaced when the file is missing or its key was
 * revoked, expired or belongs to another database. Returns the key and whether it is new.
 */
export async function ensureBootstrapAdminKey(
  db: Queryable,
  file: string,
): Promise<{ key: string; created: boolean }> {
  const { chmod, mkdir, readFile, writeFile } = await import('node:fs/promises');
  const { dirname } = await import('node:path');
  const repo = createApiKeysRepo(db);
  const existing = await readFile(file, 'utf8').then(
    (t) => t.trim(),
    () => undefined,
  );
  const m = existing ? API_KEY_PATTERN.exec(existing) : null;
  if (existing && m) {
    const cred = await repo.findByPrefix(m[1]!);
    const r = cred?.record;
    if (
      cred?.matches(existing) &&
      r &&
      !r.revoked_at &&
      (!r.expires_at || Date.parse(r.expires_at) > Date.now())
    )
      return { key: existing, created: false };
  }
  const { key } = await repo.create({
    name: 'bootstrap admin (npm start)',
    roles: ['admin'],
    createdBy: 'system:bootstrap',
  });
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${key}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return { key, created: true };
}
