/** Targets with their segments, arms and append-only routing configs. Each create is one transaction. */
import {
  type Arm,
  type RoutingConfig,
  type ServingPolicy,
  type Target,
  type TargetPolicy,
  type Weights,
  TargetPolicy as TargetPolicySchema,
  Arm as ArmSchema,
} from '../../../domain/model';
import { AppError, conflict, notFound } from '../../../domain/errors';
import { type Db, type Queryable, withTransaction, pgCode, PG_ERRORS } from '../pool';

export interface NewTarget {
  name: string;
  description: string;
  policy: TargetPolicy;
  arms: Arm[];
  segments: string[];
  /** Initial weights for every segment; arms absent get 0. */
  weights: Weights;
}

interface TargetRow {
  name: string;
  description: string;
  policy: unknown;
  revision: number;
  created_at: Date;
  updated_at: Date;
}

interface ArmRow {
  id: string;
  provider: string;
  model: string;
  prompt_template: string;
  prompt_version: number;
  params: unknown;
  serving: unknown;
}

interface ConfigRow {
  target: string;
  segment: string;
  version: number;
  weights: Weights;
  rollout_id: string | null;
  reason: string;
  serving?: Record<string, Partial<ServingPolicy>> | null;
  created_at: Date;
}

/** The values of an `arms` row in column order (target, id, provider, model, prompt_template, prompt_version, params, serving). */
export const armRow = (target: string, arm: Arm): unknown[] => [
  target,
  arm.id,
  arm.provider,
  arm.model,
  arm.prompt_template,
  arm.prompt_version,
  JSON.stringify(arm.params),
  JSON.stringify(arm.serving),
];

const toConfig = (r: ConfigRow): RoutingConfig => ({
  target: r.target,
  segment: r.segment,
  version: r.version,
  weights: r.weights,
  rollout_id: r.rollout_id,
  reason: r.reason,
  serving: r.serving ?? {},
  created_at: r.created_at.toISOString(),
});

export interface TargetsRepoHooks {
  /**
   * Called after a new routing-config version committed (the shared cache announces it to every
   * process). Awaited but never fails the write: the version is durable whatever the hook does.
   */
  onConfigChange?: (config: RoutingConfig) => Promise<void> | void;
}

async function loadTarget(q: Queryable, name: string): Promise<Target | null> {
  const t = await q.query<TargetRow>('SELECT * FROM targets WHERE name = $1', [name]);
  const row = t.rows[0];
  if (!row) return null;
  const [segments, arms] = await Promise.all([
    q.query<{ name: string }>('SELECT name FROM segments WHERE target = $1 ORDER BY name', [name]),
    q.query<ArmRow>('SELECT * FROM arms WHERE target = $1 ORDER BY id', [name]),
  ]);
  return {
    name: row.name,
    description: row.description,
    policy: TargetPolicySchema.parse(row.policy),
    segments: segments.rows.map((s) => s.name),
    arms: arms.rows.map((a) =>
      ArmSchema.parse({
        id: a.id,
        provider: a.provider,
        model: a.model,
        prompt_template: a.prompt_template,
        prompt_version: a.prompt_version,
        params: a.params,
        serving: a.serving,
      }),
    ),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    revision: row.revision,
  };
}

/** Creates the target, its segments, arms and version 1 of every segment's routing config. */
async function createTarget(db: Db, input: NewTarget): Promise<Target> {
  const armIds = new Set(input.arms.map((a) => a.id));
  for (const arm of Object.keys(input.weights)) {
    if (!armIds.has(arm)) {
      throw new AppError('validation', `weights name arm "${arm}" which is not among the arms`, {
        issues: [{ path: `weights.${arm}`, message: 'unknown arm' }],
      });
    }
  }
  try {
    return await withTransaction(db, async (tx) => {
      await tx.query('INSERT INTO targets (name, description, policy) VALUES ($1, $2, $3)', [
        input.name,
        input.description,
        JSON.stringify(input.policy),
      ]);
      for (const arm of input.arms) {
        await tx.query(
          `INSERT INTO arms (target, id, provider, model, prompt_template, prompt_version, params, serving)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          armRow(input.name, arm),
        );
      }
      for (const segment of input.segments) {
        await tx.query('INSERT INTO segments (target, name) VALUES ($1, $2)', [input.name, segment]);
        await tx.query(
          `INSERT INTO routing_configs (target, segment, version, weights, reason) VALUES ($1, $2, 1, $3, $4)`,
          [input.name, segment, JSON.stringify(input.weights), 'initial configuration'],
        );
      }
      const created = await loadTarget(tx, input.name);
      if (!created) throw new Error('target vanished inside its own transaction');
      return created;
    });
  } catch (err) {
    if (pgCode(err) === PG_ERRORS.uniqueViolation) {
      throw conflict(`target "${input.name}" already exists`, { target: input.name });
    }
    throw err;
  }
}

export function createTargetsRepo(db: Db, hooks: TargetsRepoHooks = {}) {
  return {
    get: (name: string) => loadTarget(db, name),

    async require(name: string): Promise<Target> {
      const t = await loadTarget(db, name);
      if (!t) throw notFound(`target "${name}"`);
      return t;
    },

    async list(opts: { limit: number; after?: string }): Promise<Target[]> {
      const rows = await db.query<{ name: string }>(
        'SELECT name FROM targets WHERE ($1::text IS NULL OR name > $1) ORDER BY name LIMIT $2',
        [opts.after ?? null, opts.limit],
      );
      const out: Target[] = [];
      for (const r of rows.rows) {
        const t = await loadTarget(db, r.name);
        if (t) out.push(t);
      }
      return out;
    },

    /** Creates the target, its segments, arms and version 1 of every segment's routing config. */
    create: (input: NewTarget) => createTarget(db, input),

    async currentConfig(target: string, segment: string): Promise<RoutingConfig | null> {
      const r = await db.query<ConfigRow>(
        'SELECT * FROM routing_configs WHERE target = $1 AND segment = $2 ORDER BY version DESC LIMIT 1',
        [target, segment],
      );
      return r.rows[0] ? toConfig(r.rows[0]) : null;
    },

    async configVersion(target: string, segment: string, version: number): Promise<RoutingConfig | null> {
      const r = await db.query<ConfigRow>(
        'SELECT * FROM routing_configs WHERE target = $1 AND segment = $2 AND version = $3',
        [target, segment, version],
      );
      return r.rows[0] ? toConfig(r.rows[0]) : null;
    },

    async configHistory(target: string, segment: string, limit: number, beforeVersion?: number) {
      const r = await db.query<ConfigRow>(
        `SELECT * FROM routing_configs WHERE target = $1 AND segment = $2 AND ($3::int IS NULL OR version < $3)
         ORDER BY version DESC LIMIT $4`,
        [target, segment, beforeVersion ?? null, limit],
      );
      return r.rows.map(toConfig);
    },

    /**
     * Appends a new routing-config version if and only if the current one is `expectedVersion`
     * (optimistic concurrency; the primary key makes a racing writer fail instead of both winning), and
     * `matchesRead` accepts it. The segment row is share-locked first (the lock the foreign key takes
     * anyway, taken before anything else): a delete of the target waits for this write instead of
     * letting it land in a target created again under the same name.
     */
    async appendConfig(input: {
      target: string;
      segment: string;
      expectedVersion: number;
      /**
       * Whether the current version is the one the caller read. A version number repeats when a target
       * is deleted and created again; the API compares the ETag it handed out (a digest of the config).
       */
      matchesRead?: (current: RoutingConfig) => boolean;
      weights: Weights;
      rolloutId: string | null;
      reason: string;
      /** Serving overrides per arm; omitted, the current version's carry forward. */
      serving?: Record<string, Partial<ServingPolicy>>;
    }): Promise<RoutingConfig> {
      let appended: RoutingConfig;
      try {
        appended = await withTransaction(db, async (tx) => {
          const segment = await tx.query(
            'SELECT 1 FROM segments WHERE target = $1 AND name = $2 FOR KEY SHARE',
            [input.target, input.segment],
          );
          const cur =
            segment.rowCount === 0
              ? { rows: [] }
              : await tx.query<ConfigRow>(
                  'SELECT * FROM routing_configs WHERE target = $1 AND segment = $2 ORDER BY version DESC LIMIT 1',
                  [input.target, input.segment],
                );
          const current = cur.rows[0]?.version ?? null;
          if (current === null) throw notFound(`routing config of ${input.target}/${input.segment}`);
          if (current !== input.expectedVersion) {
            throw new AppError(
              'precondition_failed',
              `routing config of ${input.target}/${input.segment} is at version ${current}, not ${input.expectedVersion}`,
              { currentVersion: current },
            );
          }
          if (input.matchesRead && !input.matchesRead(toConfig(cur.rows[0]!))) {
            // Versions of one target never change (append-only), so the same number with other
            // content is a target (or segment) deleted and created again since the caller read it.
            throw new AppError(
              'precondition_failed',
              `routing config of ${input.target}/${input.segment} version ${current} is not the one that was read: ` +
                'the target or segment was deleted and created again since',
              { currentVersion: current },
            );
          }
          const r = await tx.query<ConfigRow>(
            `INSERT INTO routing_configs (target, segment, version, weights, rollout_id, reason, serving)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
            [
              input.target,
              input.segment,
              current + 1,
              JSON.stringify(input.weights),
              input.rolloutId,
              input.reason,
              JSON.stringify(input.serving ?? cur.rows[0]?.serving ?? {}),
            ],
          );
          return toConfig(r.rows[0]!);
        });
      } catch (err) {
        if (pgCode(err) === PG_ERRORS.uniqueViolation) {
          throw new AppError(
            'precondition_failed',
            `routing config of ${input.target}/${input.segment} changed concurrently`,
          );
        }
        throw err;
      }
      try {
        await hooks.onConfigChange?.(appended);
      } catch {
        // The cache bounds staleness by TTL when an announcement is lost; the write itself stands.
      }
      return appended;
    },
  };
}

export type TargetsRepo = ReturnType<typeof createTargetsRepo>;
