/**
 * Requests sampled for the LLM judge (their prompt and answer text, kept for a retention period) and
 * the prompt variants Claude proposed, waiting for approval.
 */
import type { Queryable } from '../pool';

export interface JudgeSampleInput {
  request_id: string;
  target: string;
  segment: string;
  arm?: string | undefined;
  config_version?: number | undefined;
  input: string;
  output: string;
}

export interface JudgeVerdict {
  request_id: string;
  outcome: 'scored' | 'unparseable';
  score: number | null;
  model: string;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}

export interface PromptProposalRecord {
  id: string;
  target: string;
  segment: string;
  base_arm: string;
  cycle_id: string;
  decision_id: string | null;
  reason: string;
  base_template: string;
  variants: { template: string; rationale: string }[];
  status: 'proposed' | 'approved' | 'rejected';
  model: string;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  created_at: string;
}

const SAMPLE_COLUMNS = 'request_id, target, segment, arm, config_version, input, output';

export function createJudgeRepo(db: Queryable) {
  return {
    /** Stores samples once per request id; returns how many were new. */
    async submit(samples: JudgeSampleInput[]): Promise<number> {
      if (samples.length === 0) return 0;
      const r = await db.query(
        `INSERT INTO judge_samples (${SAMPLE_COLUMNS})
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[])
         ON CONFLICT (request_id) DO NOTHING`,
        [
          samples.map((s) => s.request_id),
          samples.map((s) => s.target),
          samples.map((s) => s.segment),
          samples.map((s) => s.arm ?? null),
          samples.map((s) => s.config_version ?? null),
          samples.map((s) => s.input),
          samples.map((s) => s.output),
        ],
      );
      return r.rowCount ?? 0;
    },

    /**
     * Leases up to `limit` unjudged samples, oldest first, for `leaseMs`; samples leased by a run that
     * died come back once the lease expires. SKIP LOCKED lets concurrent runs take disjoint batches.
     */
    async lease(limit: number, leaseMs: number): Promise<Required<JudgeSampleInput>[]> {
      const r = await db.query<
        Required<JudgeSampleInput> & { arm: string | null; config_version: number | null }
      >(
        `UPDATE judge_samples SET leased_until = now() + make_interval(secs => $2::double precision / 1000)
          WHERE request_id IN (
            SELECT request_id FROM judge_samples
             WHERE judged_at IS NULL AND (leased_until IS NULL OR leased_until < now())
             ORDER BY submitted_at LIMIT $1 FOR UPDATE SKIP LOCKED)
          RETURNING ${SAMPLE_COLUMNS}`,
        [limit, leaseMs],
      );
      return r.rows;
    },

    async recordVerdicts(verdicts: JudgeVerdict[]): Promise<void> {
      if (verdicts.length === 0) return;
      await db.query(
        `UPDATE judge_samples j SET judged_at = now(), leased_until = NULL, outcome = v.outcome, score = v.score,
                model = v.model, input_tokens = v.input_tokens, output_tokens = v.output_tokens, cost_usd = v.cost_usd
           FROM unnest($1::text[], $2::text[], $3::float8[], $4::text[], $5::int[], $6::int[], $7::float8[])
             AS v(request_id, outcome, score, model, input_tokens, output_tokens, cost_usd)
          WHERE j.request_id = v.request_id`,
        [
          verdicts.map((v) => v.request_id),
          verdicts.map((v) => v.outcome),
          verdicts.map((v) => v.score),
          verdicts.map((v) => v.model),
          verdicts.map((v) => v.input_tokens),
          verdicts.map((v) => v.output_tokens),
          verdicts.map((v) => v.cost_usd),
        ],
      );
    },

    /** Deletes samples (their text) submitted more than `hours` ago, judged or not. */
    async purge(hours: number): Promise<number> {
      const r = await db.query(
        `DELETE FROM judge_samples WHERE submitted_at < now() - make_interval(hours => $1)`,
        [hours],
      );
      return r.rowCount ?? 0;
    },

    /** The best-scored judged samples of an arm: examples for the prompt writer. */
    async examples(
      target: string,
      segment: string,
      arm: string,
      limit: number,
    ): Promise<{ input: string; output: string; score: number }[]> {
      const r = await db.query<{ input: string; output: string; score: number }>(
        `SELECT input, output, score FROM judge_samples
          WHERE target = $1 AND segment = $2 AND arm = $3 AND outcome = 'scored'
          ORDER BY score DESC, judged_at DESC LIMIT $4`,
        [target, segment, arm, limit],
      );
      return r.rows;
    },

    async openProposal(target: string, segment: string, baseArm: string): Promise<string | undefined> {
      const r = await db.query<{ id: string }>(
        `SELECT id FROM prompt_proposals WHERE target = $1 AND segment = $2 AND base_arm = $3 AND status = 'proposed' LIMIT 1`,
        [target, segment, baseArm],
      );
      return r.rows[0]?.id;
    },

    /** Stores a proposal once per cycle, segment and base arm; returns the stored (or existing) id. */
    async insertProposal(p: Omit<PromptProposalRecord, 'status' | 'created_at'>): Promise<string> {
      const r = await db.query<{ id: string }>(
        `INSERT INTO prompt_proposals (id, target, segment, base_arm, cycle_id, decision_id, reason, base_template,
                                       variants, model, input_tokens, output_tokens, cost_usd)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)
         ON CONFLICT (cycle_id, segment, base_arm) DO UPDATE SET cycle_id = EXCLUDED.cycle_id
         RETURNING id`,
        [
          p.id,
          p.target,
          p.segment,
          p.base_arm,
          p.cycle_id,
          p.decision_id,
          p.reason,
          p.base_template,
          JSON.stringify(p.variants),
          p.model,
          p.input_tokens,
          p.output_tokens,
          p.cost_usd,
        ],
      );
      return r.rows[0]!.id;
    },

    /** A target's proposals, newest first, optionally of one status. */
    async listProposals(
      target: string,
      status?: PromptProposalRecord['status'],
    ): Promise<PromptProposalRecord[]> {
      const r = await db.query<PromptProposalRecord & { created_at: Date }>(
        `SELECT * FROM prompt_proposals WHERE target = $1 AND ($2::text IS NULL OR status = $2)
         ORDER BY created_at DESC, id`,
        [target, status ?? null],
      );
      return r.rows.map(proposalRow);
    },

    async getProposal(id: string): Promise<PromptProposalRecord | undefined> {
      const r = await db.query<PromptProposalRecord & { created_at: Date }>(
        `SELECT * FROM prompt_proposals WHERE id = $1`,
        [id],
      );
      return r.rows[0] && proposalRow(r.rows[0]);
    },

    /**
     * A person's answer to an open proposal: `proposed` becomes `approved` or `rejected` once (a
     * concurrent second answer finds nothing open and gets undefined).
     */
    async decideProposal(
      id: string,
      status: 'approved' | 'rejected',
    ): Promise<PromptProposalRecord | undefined> {
      const r = await db.query<PromptProposalRecord & { created_at: Date }>(
        `UPDATE prompt_proposals SET status = $2 WHERE id = $1 AND status = 'proposed' RETURNING *`,
        [id, status],
      );
      return r.rows[0] && proposalRow(r.rows[0]);
    },
  };
}
export type JudgeRepo = ReturnType<typeof createJudgeRepo>;

function proposalRow(row: PromptProposalRecord & { created_at: Date | string }): PromptProposalRecord {
  return { ...row, created_at: new Date(row.created_at).toISOString() };
}
