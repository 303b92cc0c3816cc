/**
 * Integration settings made through the API (they override the environment) and the fingerprint table
 * that keeps one external issue per incident. Secrets are sealed (AES-256-GCM, platform/secrets.ts) before
 * they are written and opened only when read by the settings loader; the public view names which
 * secrets are set, never their values.
 */
import { SecretDecryptionError, type ResealResult, type SecretBox } from '../../../platform/secrets';
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

const secretContext = (kind: string, name: string) => `integration:${kind}:${name}`;

function toRecord(r: Record<string, unknown>, box: SecretBox): IntegrationRecord {
  const kind = r.kind as IntegrationKind;
  const sealed = r.secrets as Record<string, string>;
  return {
    kind,
    enabled: r.enabled as boolean,
    settings: r.settings as Record<string, unknown>,
    secrets: Object.fromEntries(
      Object.entries(sealed).map(([name, v]) => [name, box.open(v, secretContext(kind, name))]),
    ),
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

export function createIntegrationsRepo(db: Queryable, box: SecretBox) {
  return {
    async get(kind: IntegrationKind): Promise<IntegrationRecord | undefined> {
      const r = await db.query<Row>(
        `SELECT kind, enabled, settings, secrets, updated_at FROM integration_configs WHERE kind = $1`,
        [kind],
      );
      return r.rows[0] ? toRecord(r.rows[0], box) : undefined;
    },

    async list(): Promise<IntegrationRecord[]> {
      const r = await db.query<Row>(
        `SELECT kind, enabled, settings, secrets, updated_at FROM integration_configs ORDER BY kind`,
      );
      return r.rows.map((row) => toRecord(row, box));
    },

    /** Replaces settings; secrets are merged so a settings change need not resend them (null removes one). */
    async put(
      kind: IntegrationKind,
      input: { enabled: boolean; settings: Record<string, unknown>; secrets: Record<string, string | null> },
    ): Promise<IntegrationRecord> {
      const set = Object.fromEntries(
        Object.entries(input.secrets).flatMap(([name, v]) =>
          v === null ? [] : [[name, box.seal(v, secretContext(kind, name))]],
        ),
      );
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
      return toRecord(r.rows[0]!, box);
    },

    /**
     * Seals every stored secret not yet sealed under the current key: rows written before encryption,
     * or under a retired key. Compare-and-set per row, so it is safe to run from several processes.
     */
    async resealSecrets(): Promise<ResealResult> {
      const r = await db.query<{ kind: string; secrets: Record<string, string> }>(
        `SELECT kind, secrets FROM integration_configs`,
      );
      const result: ResealResult = { resealed: 0, unreadable: [] };
      for (const row of r.rows) {
        if (Object.values(row.secrets).every((v) => box.isCurrent(v))) continue;
        let next: Record<string, string>;
        try {
          next = Object.fromEntries(
            Object.entries(row.secrets).map(([name, v]) => {
              const context = secretContext(row.kind, name);
              return [name, box.isCurrent(v) ? v : box.seal(box.open(v, context), context)];
            }),
          );
        } catch (err) {
          if (!(err instanceof SecretDecryptionError)) throw err;
          result.unreadable.push(row.kind);
          continue;
        }
        const u = await db.query(
          `UPDATE integration_configs SET secrets = $2 WHERE kind = $1 AND secrets = $3::jsonb`,
          [row.kind, JSON.stringify(next), JSON.stringify(row.secrets)],
        );
        result.resealed += u.rowCount ?? 0;
      }
      return result;
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
