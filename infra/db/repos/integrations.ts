/**
 * Integration settings made through the API (they override the environment) and the fingerprint table
 * that keeps one external issue per incident. Secrets are written here and read only by the worker's
 * settings loader; the public view names which secrets are set, never their values.
 */
import type { Queryable } from '../pool';

type Row = Record<string, unknown>;

export const INTEGRATION_KINDS = ['slack', 'github', 'jira', 'anthropic'] as const;
export type IntegrationKind = (typeof INTEGRATION_KINDS)[number];

export interface IntegrationRecord {
  kind: IntegrationKind;
  enabled: boolean;
  settings: Record<string, unknown>;
  secrets: Record<string, string>;
  updated_at: string;
}

export interface IntegrationView {
  kind: IntegrationKind;
  enabled: boolean;
  settings: Record<string, unknown>;
  /** Names of the secrets that are set; their values are never returned. */
  secrets_set: string[];
  updated_at: string;
}

export function publicView(r: IntegrationRecord): IntegrationView {
  return {
    kind: r.kind,
    enabled: r.enabled,
    settings: r.settings,
    secrets_set: Object.keys(r.secrets).sort(),
    updated_at: r.updated_at,
  };
}

function toRecord(r: Record<string, unknown>): IntegrationRecord {
  return {
    kind: r.kind as IntegrationKind,
    enabled: r.enabled as boolean,
    settings: r.settings as Record<string, unknown>,
    secrets: r.secrets as Record<string, string>,
    updated_at: new Date(r.updated_at as Date).toISOString(),
  };
}

export interface Fingerprint {
  kind: string;
  fingerprint: string;
  external_id: string | null;
  external_url: string | null;
  resolved_at: string | null;
}

export function createIntegrationsRepo(db: Queryable) {
  return {
    async get(kind: IntegrationKind): Promise<IntegrationRecord | undefined> {
      const r = await db.query<Row>(
        `SELECT kind, enabled, settings, secrets, updated_at FROM integration_configs WHERE kind = $1`,
        [kind],
      );
      return r.rows[0] ? toRecord(r.rows[0]) : undefined;
    },

    async list(): Promise<IntegrationRecord[]> {
      const r = await db.query<Row>(
        `SELECT kind, enabled, settings, secrets, updated_at FROM integration_configs ORDER BY kind`,
      );
      return r.rows.map(toRecord);
    },

    /** Replaces settings; secrets are merged so a settings change need not resend them (null removes one). */
    async put(
      kind: IntegrationKind,
      input: { enabled: boolean; settings: Record<string, unknown>; secrets: Record<string, string | null> },
    ): Promise<IntegrationRecord> {
      const set = Object.fromEntries(Object.entries(input.secrets).filter(([, v]) => v !== null));
      const removed = Object.entries(input.secrets)
        .filter(([, v]) => v === null)
        .map(([k]) => k);
      const r = await db.query<Row>(
        `INSERT INTO integration_configs (kind, enabled, settings, secrets) VALUES ($1, $2, $3, $4)
         ON CONFLICT (kind) DO UPDATE SET enabled = EXCLUDED.enabled, settings = EXCLUDED.settings,
           secrets = (integration_configs.secrets || EXCLUDED.secrets) - $5::text[], updated_at = now()
         RETURNING kind, enabled, settings, secrets, updated_at`,
        [kind, input.enabled, JSON.stringify(input.settings), JSON.stringify(set), removed],
      );
      return toRecord(r.rows[0]!);
    },

    async remove(kind: IntegrationKind): Promise<boolean> {
      const r = await db.query<Row>(`DELETE FROM integration_configs WHERE kind = $1`, [kind]);
      return (r.rowCount ?? 0) > 0;
    },

    async fingerprint(kind: string, fingerprint: string): Promise<Fingerprint | undefined> {
      const r = await db.query<Row>(
        `SELECT kind, fingerprint, external_id, external_url, resolved_at FROM integration_fingerprints WHERE kind = $1 AND fingerprint = $2`,
        [kind, fingerprint],
      );
      const row = r.rows[0];
      return row
        ? {
            ...(row as unknown as Fingerprint),
            resolved_at: row.resolved_at ? new Date(row.resolved_at as Date).toISOString() : null,
          }
        : undefined;
    },

    /** Records the external issue of an incident; a later open incident with the same fingerprint reuses it. */
    async saveFingerprint(f: {
      kind: string;
      fingerprint: string;
      external_id: string;
      external_url: string | null;
      event_id: string;
    }) {
      await db.query<Row>(
        `INSERT INTO integration_fingerprints (kind, fingerprint, external_id, external_url, event_id) VALUES ($1,$2,$3,$4,$5)
         ON CONFLICT (kind, fingerprint) DO UPDATE SET external_id = EXCLUDED.external_id, external_url = EXCLUDED.external_url,
           event_id = EXCLUDED.event_id, resolved_at = NULL`,
        [f.kind, f.fingerprint, f.external_id, f.external_url, f.event_id],
      );
    },

    async resolveFingerprint(kind: string, fingerprint: string): Promise<void> {
      await db.query<Row>(
        `UPDATE integration_fingerprints SET resolved_at = now() WHERE kind = $1 AND fingerprint = $2`,
        [kind, fingerprint],
      );
    },

    /** Marks resolved the fingerprint whose external issue is `externalId` (an inbound "issue closed"). */
    async resolveByExternalId(kind: string, externalId: string): Promise<number> {
      const r = await db.query<Row>(
        `UPDATE integration_fingerprints SET resolved_at = now() WHERE kind = $1 AND external_id = $2 AND resolved_at IS NULL`,
        [kind, externalId],
      );
      return r.rowCount ?? 0;
    },
  };
}
export type IntegrationsRepo = ReturnType<typeof createIntegrationsRepo>;
