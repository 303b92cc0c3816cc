/**
 * What the gateway reads and writes: the providers it calls, as configuration, and the models it offers. The API key is sealed (AES-256-GCM,
 * platform/secrets.ts) before it is written and opened only by `get`/`list` for the gateway; the public
 * view says whether a key is set, never what it is.
 */
import type { SecretBox } from '../../../platform/secrets';
import type { Queryable } from '../pool';

export const PROVIDER_APIS = ['openai', 'anthropic'] as const;
export type ProviderApi = (typeof PROVIDER_APIS)[number];

export interface ProviderRecord {
  name: string;
  api: ProviderApi;
  base_url: string;
  /** Opened; null when the provider needs no key. */
  api_key: string | null;
  created_at: string;
  updated_at: string;
}

export interface ProviderView {
  name: string;
  api: ProviderApi;
  base_url: string;
  api_key_set: boolean;
  created_at: string;
  updated_at: string;
}

export function providerView(r: ProviderRecord): ProviderView {
  return {
    name: r.name,
    api: r.api,
    base_url: r.base_url,
    api_key_set: r.api_key !== null,
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}

interface Row {
  name: string;
  api: ProviderApi;
  base_url: string;
  api_key: string | null;
  created_at: Date;
  updated_at: Date;
}

const keyContext = (name: string) => `provider:${name}:api_key`;

function toRecord(r: Row, box: SecretBox): ProviderRecord {
  return {
    name: r.name,
    api: r.api,
    base_url: r.base_url,
    api_key: r.api_key === null ? null : box.open(r.api_key, keyContext(r.name)),
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
  };
}

const COLUMNS = 'name, api, base_url, api_key, created_at, updated_at';

export function createProvidersRepo(db: Queryable, box: SecretBox) {
  return {
    async get(name: string): Promise<ProviderRecord | undefined> {
      const r = await db.query<Row>(`SELECT ${COLUMNS} FROM gateway_providers WHERE name = $1`, [name]);
      return r.rows[0] ? toRecord(r.rows[0], box) : undefined;
    },

    async list(): Promise<ProviderRecord[]> {
      const r = await db.query<Row>(`SELECT ${COLUMNS} FROM gateway_providers ORDER BY name`);
      return r.rows.map((row) => toRecord(row, box));
    },

    /** Creates or replaces the provider; `created` tells which. */
    async put(input: {
      name: string;
      api: ProviderApi;
      base_url: string;
      api_key: string | null;
    }): Promise<{ record: ProviderRecord; created: boolean }> {
      const sealed = input.api_key === null ? null : box.seal(input.api_key, keyContext(input.name));
      const r = await db.query<Row & { created: boolean }>(
        `INSERT INTO gateway_providers (name, api, base_url, api_key) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO UPDATE SET api = EXCLUDED.api, base_url = EXCLUDED.base_url,
           api_key = EXCLUDED.api_key, updated_at = now()
         RETURNING ${COLUMNS}, (xmax = 0) AS created`,
        [input.name, input.api, input.base_url, sealed],
      );
      const row = r.rows[0]!;
      return { record: toRecord(row, box), created: row.created };
    },

    /** Every target's segments, for the gateway's model list: one query, however many targets. */
    async routableModels(): Promise<{ target: string; segment: string; created_at: string }[]> {
      const r = await db.query<{ target: string; segment: string; created_at: Date }>(
        `SELECT s.target, s.name AS segment, t.created_at FROM segments s JOIN targets t ON t.name = s.target
          ORDER BY s.target, s.name`,
      );
      return r.rows.map((row) => ({ ...row, created_at: row.created_at.toISOString() }));
    },

    /** True when a row was deleted. */
    async remove(name: string): Promise<boolean> {
      const r = await db.query('DELETE FROM gateway_providers WHERE name = $1', [name]);
      return (r.rowCount ?? 0) > 0;
    },
  };
}

export type ProvidersRepo = ReturnType<typeof createProvidersRepo>;
