/**
 * Canary rollouts as the API reads them. Written only by the orchestration activities; the partial
 * unique index `rollouts_one_active` refuses a second active rollout per target and segment.
 */
import type { RolloutState, Weights } from '../../../domain/model';
import { AppError } from '../../../domain/errors';
import type { NewRollout, Rollout, RolloutProgress } from '../../../domain/rollout';
import { pgCode, PG_ERRORS, type Queryable } from '../pool';

export const ACTIVE_ROLLOUT_STATES: readonly RolloutState[] = [
  'pending',
  'progressing',
  'paused',
  'awaiting_approval',
];

// The entity lives in the domain; importers of this repository keep finding it here.
export type { NewRollout, Rollout, RolloutProgress };

interface RolloutRow extends Omit<Rollout, 'created_at' | 'updated_at' | 'finished_at'> {
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

const toRollout = (r: RolloutRow): Rollout => ({
  ...r,
  created_at: r.created_at.toISOString(),
  updated_at: r.updated_at.toISOString(),
  finished_at: r.finished_at?.toISOString() ?? null,
});

export function createRolloutsRepo(db: Queryable) {
  return {
    /**
     * Creates the rollout in state `progressing`; a retry of the same id returns the stored row. A
     * different active rollout of the same target and segment is refused with 409 naming it.
     */
    async create(r: NewRollout): Promise<Rollout> {
      try {
        const ins = await db.query<RolloutRow>(
          `INSERT INTO rollouts (id, decision_id, target, segment, strategy, canary_arm, baseline_arm, state, stages, from_version)
           VALUES ($1,$2,$3,$4,$5,$6,$7,'progressing',$8,$9) ON CONFLICT (id) DO NOTHING RETURNING *`,
          [
            r.id,
            r.decision_id,
            r.target,
            r.segment,
            r.strategy,
            r.canary_arm,
            r.baseline_arm,
            JSON.stringify(r.stages),
            r.from_version,
          ],
        );
        if (ins.rows[0]) return toRollout(ins.rows[0]);
        const existing = await db.query<RolloutRow>('SELECT * FROM rollouts WHERE id = $1', [r.id]);
        return toRollout(existing.rows[0]!);
      } catch (err) {
        if (pgCode(err) === PG_ERRORS.uniqueViolation) {
          const running = await this.active(r.target, r.segment);
          throw new AppError(
            'conflict',
            `a rollout is already active for ${r.target}/${r.segment}${running ? `: ${running.id}` : ''}`,
            { running_id: running?.id ?? null },
          );
        }
        throw err;
      }
    },

    async update(id: string, p: RolloutProgress): Promise<Rollout> {
      const finished = !ACTIVE_ROLLOUT_STATES.includes(p.state);
      const r = await db.query<RolloutRow>(
        `UPDATE rollouts SET state = $2,
            current_stage = COALESCE($3, current_stage),
            weights = CASE WHEN $4::boolean THEN $5::jsonb ELSE weights END,
            verdicts = COALESCE($6::jsonb, verdicts),
            to_version = CASE WHEN $7::boolean THEN $8::int ELSE to_version END,
            reason = COALESCE($9, reason),
            updated_at = now(),
            finished_at = CASE WHEN $10::boolean THEN COALESCE(finished_at, now()) ELSE NULL END
          WHERE id = $1 RETURNING *`,
        [
          id,
          p.state,
          p.current_stage ?? null,
          p.weights !== undefined,
          p.weights === undefined || p.weights === null ? null : JSON.stringify(p.weights),
          p.verdicts === undefined ? null : JSON.stringify(p.verdicts),
          p.to_version !== undefined,
          p.to_version ?? null,
          p.reason ?? null,
          finished,
        ],
      );
      if (!r.rows[0]) throw new AppError('not_found', `rollout "${id}" not found`);
      return toRollout(r.rows[0]);
    },

    async get(id: string): Promise<Rollout | null> {
      const r = await db.query<RolloutRow>('SELECT * FROM rollouts WHERE id = $1', [id]);
      return r.rows[0] ? toRollout(r.rows[0]) : null;
    },

    async active(target: string, segment: string): Promise<Rollout | null> {
      const r = await db.query<RolloutRow>(
        `SELECT * FROM rollouts WHERE target = $1 AND segment = $2 AND state = ANY($3::text[]) LIMIT 1`,
        [target, segment, ACTIVE_ROLLOUT_STATES],
      );
      return r.rows[0] ? toRollout(r.rows[0]) : null;
    },

    async list(filter: {
      target?: string;
      state?: RolloutState;
      limit: number;
      before?: { createdAt: string; id: string };
    }): Promise<Rollout[]> {
      const r = await db.query<RolloutRow>(
        `SELECT * FROM rollouts
          WHERE ($1::text IS NULL OR target = $1) AND ($2::text IS NULL OR state = $2)
            AND ($3::timestamptz IS NULL OR (created_at, id) < ($3::timestamptz, $4::text))
          ORDER BY created_at DESC, id DESC LIMIT $5`,
        [
          filter.target ?? null,
          filter.state ?? null,
          filter.before?.createdAt ?? null,
          filter.before?.id ?? null,
          filter.limit,
        ],
      );
      return r.rows.map(toRollout);
    },

    /**
     * The routing-config version a rollout or rollback step already wrote, found by its step tag in
     * the reason, so a retried apply returns it instead of writing a second version.
     */
    async configWrittenBy(target: string, segment: string, ownerId: string, step: string) {
      const r = await db.query<{ version: number; weights: Weights }>(
        `SELECT version, weights FROM routing_configs
          WHERE target = $1 AND segment = $2 AND rollout_id = $3 AND reason LIKE $4
          ORDER BY version DESC LIMIT 1`,
        [target, segment, ownerId, `${stepTag(step)}%`],
      );
      return r.rows[0] ?? null;
    },
  };
}

/** Prefix of the reason of a routing-config version written by a rollout or rollback step. */
export const stepTag = (step: string): string => `[${step}] `;

export type RolloutsRepo = ReturnType<typeof createRolloutsRepo>;
