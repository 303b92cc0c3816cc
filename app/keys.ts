/**
 * API keys, once for every door: create one (its secret is returned this once), list them, read one,
 * revoke one. Every replica's authenticator learns of a change through `announce` (the invalidation
 * bus): a revoked key stops working at once on this replica and within a second on the others, and a
 * prefix cached as unknown (someone probed it) is known once its key exists.
 *
 * - The creator recorded (`created_by`) is always the authenticated caller's id (`key:<prefix>`,
 *   `jwt:<subject>`): nothing a caller sends can name someone else.
 * - Revoking a revoked key answers it unchanged (revoked once); an unknown id is `not_found`.
 */
import { notFound } from '../domain/errors';
import type { ApiKeyRecord, ApiKeysRepo } from '../adapters/db/repos/api-keys';
import type { Caller } from './caller';

export interface KeysDeps {
  /** The API's key store (tests may hand the API an instrumented one). */
  apiKeys: ApiKeysRepo;
  /** Tells every replica's authenticator that the key with this prefix changed; this one at once. */
  announce(prefix: string): Promise<void>;
}

export interface NewKey {
  name: string;
  roles: string[];
  /** When the key stops working; never when absent. */
  expires_at?: string | undefined;
}

export type KeysService = ReturnType<typeof createKeysService>;

export function createKeysService(deps: KeysDeps) {
  const { apiKeys } = deps;
  const find = async (id: string): Promise<ApiKeyRecord> => {
    const record = await apiKeys.get(id);
    if (!record) throw notFound(`API key "${id}"`);
    return record;
  };

  return {
    /** The key's record and its secret, which is stored nowhere: the caller shows it once. */
    async create(caller: Caller, input: NewKey): Promise<{ key: string; record: ApiKeyRecord }> {
      const created = await apiKeys.create({
        name: input.name,
        roles: input.roles,
        createdBy: caller.id,
        expiresAt: input.expires_at ?? null,
      });
      await deps.announce(created.record.prefix);
      return created;
    },

    /** Keys newest first, `limit` of them older than `before`; revoked ones only when asked. */
    list: (page: {
      limit: number;
      includeRevoked: boolean;
      before?: { created_at: string; id: string } | undefined;
    }): Promise<ApiKeyRecord[]> =>
      apiKeys.list({
        limit: page.limit,
        includeRevoked: page.includeRevoked,
        ...(page.before ? { before: page.before } : {}),
      }),

    get: find,

    async revoke(_caller: Caller, id: string): Promise<ApiKeyRecord> {
      const record = await apiKeys.revoke(id);
      if (!record) throw notFound(`API key "${id}"`);
      await deps.announce(record.prefix);
      return record;
    },
  };
}
