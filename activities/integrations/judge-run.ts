/**
 * Claude's two scheduled uses, as activities over the sample and proposal tables:
 * - `judgePendingSamples` scores the requests applications submitted for judging (already sampled at
 *   submission by the target's rate), emits their `eval.result` events into the ingest pipeline and
 *   records score, tokens and cost per request;
 * - `proposePromptVariantsForCycle` drafts new prompt variants from an experiment's winner (or from the
 *   primary arm of a segment with too few live variants) and stores them for approval.
 */
import { randomUUID } from 'node:crypto';
import type { JudgeRepo, JudgeVerdict } from '../../adapters/db/repos/judge';
import type { TargetsRepo } from '../../adapters/db/repos/targets';
import type { SettingsResolver } from '../../app/integration-settings';
import type { Logger } from '../../platform/logger';
import {
  zeroJudgeCounts,
  type JudgeBatchInput,
  type JudgeBatchResult,
  type ProposalOutcome,
  type ProposalRequest,
} from '../../workflows/notify-types';
import { livePromptVariants } from '../../domain/intelligence/prompt-proposal-gate';
import type { JudgeInput, JudgeResult, PromptVariantInput, PromptVariantResult } from './anthropic';

export interface JudgeRunDeps {
  judge: JudgeRepo;
  targets: Pick<TargetsRepo, 'get' | 'currentConfig'>;
  settings: SettingsResolver;
  logger: Logger;
  judgeSamples: (input: JudgeInput) => Promise<JudgeResult>;
  proposePromptVariants: (input: PromptVariantInput) => Promise<PromptVariantResult>;
  retentionHours: number;
}

export function createJudgeRunActivities(deps: JudgeRunDeps) {
  return {
    /**
     * Leases up to `batchSize` submitted samples, scores them per target and segment, emits one
     * `eval.result` each (idempotent ids) and records the verdicts; purges samples past retention.
     * Returns `not_configured` without leasing anything when Anthropic is not configured. Samples of a
     * run that dies come back when their lease expires.
     */
    async judgePendingSamples(input: JudgeBatchInput): Promise<JudgeBatchResult> {
      const purged = await deps.judge.purge(deps.retentionHours);
      const result: JudgeBatchResult = { status: 'judged', ...zeroJudgeCounts(), purged };
      if (!(await deps.settings.anthropic())) return { ...result, status: 'not_configured' };
      const leased = await deps.judge.lease(input.batchSize, input.leaseMs);
      result.leased = leased.length;
      const groups = new Map<string, typeof leased>();
      for (const s of leased) {
        const key = `${s.target}\n${s.segment}`;
        groups.set(key, [...(groups.get(key) ?? []), s]);
      }
      for (const samples of groups.values()) {
        const { target, segment } = samples[0]!;
        const judged = await deps.judgeSamples({
          target,
          segment,
          samples: samples.map((s) => ({
            request_id: s.request_id,
            input: s.input,
            output: s.output,
            ...(s.arm ? { arm: s.arm } : {}),
            ...(s.config_version ? { config_version: s.config_version } : {}),
          })),
        });
        const scores = new Map(judged.scored.map((x) => [x.request_id, x.score]));
        const verdicts: JudgeVerdict[] = judged.per_request.map((u) => ({
          ...u,
          outcome: scores.has(u.request_id) ? 'scored' : 'unparseable',
          score: scores.get(u.request_id) ?? null,
          model: judged.usage.model,
        }));
        await deps.judge.recordVerdicts(verdicts);
        result.scored += judged.scored.length;
        result.unparseable += judged.unparseable.length;
        result.input_tokens += judged.usage.input_tokens;
        result.output_tokens += judged.usage.output_tokens;
        result.cost_usd += judged.usage.cost_usd;
      }
      return result;
    },

    /**
     * For each segment of a cycle: drafts prompt variants from the experiment's winner, or, when the
     * anthropic setting `proposal_min_live_variants` is set and the segment serves fewer prompt
     * variants of its primary model, from the primary arm. Stores each proposal (status `proposed`)
     * once per cycle and base arm, and skips a base arm that already has an open proposal. Never throws
     * for Claude's sake: a failure is a `failed` outcome, so the calling cycle is never failed by it.
     */
    async proposePromptVariantsForCycle(input: ProposalRequest): Promise<ProposalOutcome[]> {
      const s = await deps.settings.anthropic();
      if (!s) return input.segments.map((x) => skipped(x.segment, 'Anthropic is not configured'));
      const target = await deps.targets.get(input.target);
      if (!target) return input.segments.map((x) => skipped(x.segment, 'target not found'));
      const out: ProposalOutcome[] = [];
      for (const seg of input.segments) {
        const config = await deps.targets.currentConfig(input.target, seg.segment);
        let base: string | undefined;
        let reason: string;
        if (seg.winner) {
          base = seg.winner;
          reason = `experiment concluded: ${seg.winner} won`;
        } else {
          const { primary: primaryArm, variants } = livePromptVariants(target.arms, config?.weights ?? {});
          // The target policy's minimum (sent by the cycle) wins over the global setting.
          const min = input.minLiveVariants ?? s.proposalMinLiveVariants;
          if (!primaryArm || min === undefined || variants >= min) {
            out.push(skipped(seg.segment, 'no concluded experiment and enough live prompt variants'));
            continue;
          }
          base = primaryArm.id;
          reason = `${variants} live prompt variant(s) of ${primaryArm.model}, fewer than ${min}`;
        }
        const arm = target.arms.find((a) => a.id === base);
        const template = arm ? s.promptTemplates[arm.prompt_template] : undefined;
        if (!arm || !template) {
          out.push(
            skipped(
              seg.segment,
              `no template text for ${arm ? `prompt_template "${arm.prompt_template}"` : `arm "${base}"`} in the anthropic settings`,
            ),
          );
          continue;
        }
        if (await deps.judge.openProposal(input.target, seg.segment, arm.id)) {
          out.push(skipped(seg.segment, `an open proposal for ${arm.id} awaits approval`));
          continue;
        }
        try {
          const examples = await deps.judge.examples(input.target, seg.segment, arm.id, 5);
          const proposed = await deps.proposePromptVariants({
            target: input.target,
            template,
            objective: `higher judged quality for ${input.target}/${seg.segment} at equal or lower cost (${reason})`,
            examples,
            count: s.proposalCount,
          });
          const id = await deps.judge.insertProposal({
            id: `pp_${randomUUID()}`,
            target: input.target,
            segment: seg.segment,
            base_arm: arm.id,
            cycle_id: input.cycleId,
            decision_id: seg.decisionId ?? null,
            reason,
            base_template: template,
            variants: proposed.variants,
            model: proposed.usage.model,
            input_tokens: proposed.usage.input_tokens,
            output_tokens: proposed.usage.output_tokens,
            cost_usd: proposed.usage.cost_usd,
          });
          out.push({
            segment: seg.segment,
            status: 'proposed',
            reason,
            proposalId: id,
            variants: proposed.variants.length,
          });
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          deps.logger.warn(
            { target: input.target, segment: seg.segment, error: message },
            'prompt-variant proposal failed',
          );
          out.push({ segment: seg.segment, status: 'failed', reason: message.slice(0, 500) });
        }
      }
      return out;
    },
  };
}

const skipped = (segment: string, reason: string): ProposalOutcome => ({
  segment,
  status: 'skipped',
  reason,
});
