/**
 * Changes to a target's catalog after creation: its description and policy, segments and arms. Every
 * change bumps the target's `revision` in the same transaction, which is the ETag that guards
 * concurrent edits (If-Match). Routing configs stay append-only: a new segment gets version 1.
 */
import { AppError, conflict, notFound } from '../../../domain/errors';
import type { Arm, TargetPolicy, Weights } from '../../../domain/model';
import { type Db, type Tx, PG_ERRORS, pgCode, withTransaction } from '../pool';
import { armRow } from './targets';

const stale = (target: string, current: number, expected: number) =>
  new AppError('precondition_failed', `target "${target}" is at revision ${current}, not ${expected}`, {
    current_revision: current,
  });

async function bump(tx: Tx, target: string, expectedRevision?: number): Promise<number> {
  const r = await tx.query<{ revision: number }>('SELECT revision FROM targets WHERE name = $1 FOR UPDATE', [
    target,
  ]);
  const row = r.rows[0];
  if (!row) throw notFound(`target "${target}"`);
  if (expectedRevision !== undefined && row.revision !== expectedRevision)
    throw stale(target, row.revision, expectedRevision);
  await tx.query('UPDATE targets SET revision = revision + 1, updated_at = now() WHERE name = $1', [target]);
  return row.revision + 1;
}

function translate(err: unknown, what: string): never {
  const code = pgCode(err);
  if (code === PG_ERRORS.uniqueViolation) throw conflict(`${what} already exists`);
  if (code === PG_ERRORS.foreignKeyViolation) throw conflict(`${what} is still referenced by other records`);
  throw err;
}

export function createTargetCatalogRepo(db: Db) {
  return {
    async update(
      target: string,
      expectedRevision: number,
      patch: { description?: string; policy?: TargetPolicy },
    ): Promise<void> {
      await withTransaction(db, async (tx) => {
        await bump(tx, target, expectedRevision);
        await tx.query(
          'UPDATE targets SET description = coalesce($2, description), policy = coalesce($3::jsonb, policy) WHERE name = $1',
          [target, patch.description ?? null, patch.policy ? JSON.stringify(patch.policy) : null],
        );
      });
    },

    async remove(target: string, expectedRevision?: number): Promise<void> {
      try {
        await withTransaction(db, async (tx) => {
          await bump(tx, target, expectedRevision);
          await tx.query('DELETE FROM targets WHERE name = $1', [target]);
        });
      } catch (err) {
        translate(err, `target "${target}"`);
      }
    },

    /** Adds a segment with version 1 of its routing config. */
    async addSegment(
      target: string,
      segment: string,
      weights: Weights,
      expectedRevision?: number,
    ): Promise<void> {
      try {
        await withTransaction(db, async (tx) => {
          await bump(tx, target, expectedRevision);
          await tx.query('INSERT INTO segments (target, name) VALUES ($1, $2)', [target, segment]);
          await tx.query(
            'INSERT INTO routing_configs (target, segment, version, weights, reason) VALUES ($1, $2, 1, $3, $4)',
            [target, segment, JSON.stringify(weights), 'segment created'],
          );
        });
      } catch (err) {
        translate(err, `segment "${segment}" of target "${target}"`);
      }
    },

    async removeSegment(target: string, segment: string, expectedRevision?: number): Promise<boolean> {
      try {
        return await withTransaction(db, async (tx) => {
          await bump(tx, target, expectedRevision);
          const r = await tx.query('DELETE FROM segments WHERE target = $1 AND name = $2', [target, segment]);
          if ((r.rowCount ?? 0) === 0) throw notFound(`segment "${segment}" of target "${target}"`);
          return true;
        });
      } catch (err) {
        translate(err, `segment "${segment}" of target "${target}"`);
      }
    },

    async addArm(target: string, arm: Arm, expectedRevision?: number): Promise<void> {
      try {
        await withTransaction(db, async (tx) => {
          await bump(tx, target, expectedRevision);
          await tx.query(
            `INSERT INTO arms (target, id, provider, model, prompt_template, prompt_version, params, serving)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
            armRow(target, arm),
          );
        });
      } catch (err) {
        translate(err, `arm "${arm.id}" of target "${target}"`);
      }
    },

    async updateArm(target: string, arm: Arm, expectedRevision: number): Promise<void> {
      await withTransaction(db, async (tx) => {
        await bump(tx, target, expectedRevision);
        const r = await tx.query(
          `UPDATE arms SET provider = $3, model = $4, prompt_template = $5, prompt_version = $6, params = $7, serving = $8
            WHERE target = $1 AND id = $2`,
          armRow(target, arm),
        );
        if ((r.rowCount ?? 0) === 0) throw notFound(`arm "${arm.id}" of target "${target}"`);
      });
    },

    /** Removes an arm that no segment's current routing config sends traffic to. */
    async removeArm(target: string, armId: string, expectedRevision?: number): Promise<void> {
      await withTransaction(db, async (tx) => {
        await bump(tx, target, expectedRevision);
        const serving = await tx.query<{ segment: string }>(
          `SELECT DISTINCT ON (segment) segment, weights FROM routing_configs WHERE target = $1 ORDER BY segment, version DESC`,
          [target],
        );
        const using = (serving.rows as { segment: string; weights?: Weights }[])
          .filter((r) => (r.weights?.[armId] ?? 0) > 0)
          .map((r) => r.segment);
        if (using.length > 0) {
          throw conflict(
            `arm "${armId}" still serves traffic in segment(s) ${using.join(', ')}; move its weight first`,
            { segments: using },
          );
        }
        const r = await tx.query('DELETE FROM arms WHERE target = $1 AND id = $2', [target, armId]);
        if ((r.rowCount ?? 0) === 0) throw notFound(`arm "${armId}" of target "${target}"`);
      });
    },
  };
}

export type TargetCatalogRepo = ReturnType<typeof createTargetCatalogRepo>;
