/**
 * Anthropic Claude through the official SDK: an LLM judge that scores sampled requests and emits
 * `eval.result` telemetry, and a writer of prompt variants for the prompt-optimization strategy. Each
 * call goes through the integration's rate limit and breaker; tokens and cost are counted per call. The
 * SDK's requests go through the guarded client of platform/outbound.ts, like every other integration: the
 * base URL is configurable, so its address is checked at connect time and redirects are not followed.
 */
import Anthropic from '@anthropic-ai/sdk';
import { ApplicationFailure } from '@temporalio/activity';
import type { EvalResultEvent } from '../../domain/events';
import {
  sampledForJudge as sampled,
  type AnthropicSettings,
  type SettingsResolver,
} from '../../app/integration-settings';
import type { Logger } from '../../platform/logger';
import { DestinationRefused, guardedFetch, type DestinationPolicy } from '../../platform/outbound';
import { IntegrationHttpError, type Isolation } from './isolation';
import type { IntegrationMetrics } from './metrics';
import { FAILURE_TYPES } from '../../domain/errors';

export interface JudgeSample {
  request_id: string;
  arm?: string;
  config_version?: number;
  /** What the user asked, and what the model answered. */
  input: string;
  output: string;
}

export interface JudgeInput {
  target: string;
  segment: string;
  samples: JudgeSample[];
  /** What "good" means for this target; a generic helpfulness rubric when absent. */
  rubric?: string;
  /** Fraction of the samples scored (deterministic by request id, so a retry scores the same ones). */
  sampleRate?: number;
}

export interface Usage {
  calls: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  model: string;
}

export interface JudgeResult {
  scored: { request_id: string; score: number; reason: string }[];
  skipped: number;
  unparseable: string[];
  usage: Usage;
  /** Tokens and cost of each judged request, for the per-request accounting of the judge run. */
  per_request: { request_id: string; input_tokens: number; output_tokens: number; cost_usd: number }[];
}

export interface PromptVariantInput {
  target: string;
  template: string;
  /** What the variant should improve: "shorter answers at equal quality", ... */
  objective: string;
  examples?: { input: string; output: string; score?: number }[];
  count: number;
}

export interface PromptVariantResult {
  variants: { template: string; rationale: string }[];
  usage: Usage;
}

export interface AnthropicDeps {
  settings: Pick<SettingsResolver, 'anthropic'>;
  isolation: Isolation;
  /** Where the SDK may connect (the same rules as webhooks and the other integrations). */
  destinations: DestinationPolicy;
  logger: Logger;
  /** Sends eval.result events into the ingest pipeline. */
  emit: (events: EvalResultEvent[]) => Promise<void>;
  maxRetries: number;
  timeoutMs: number;
  metrics?: IntegrationMetrics;
}

const JUDGE_SYSTEM =
  'You grade answers of an LLM-backed product. Read the user input and the answer, apply the rubric, and reply with ' +
  'only a JSON object {"score": <number from 0 to 1>, "reason": "<one sentence>"}.';

/** The first JSON object in a reply, tolerating prose or code fences around it. */
function firstJson(text: string): unknown {
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  if (start < 0 || end <= start) return undefined;
  try {
    return JSON.parse(text.slice(start, end + 1));
  } catch {
    return undefined;
  }
}

export function costUsd(
  s: Pick<AnthropicSettings, 'priceInputPerMTok' | 'priceOutputPerMTok'>,
  input: number,
  output: number,
): number {
  return (input * s.priceInputPerMTok + output * s.priceOutputPerMTok) / 1_000_000;
}

/** A Messages API answer is a few kilobytes; anything near this is not one. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** What the SDK threw, as the isolation decides on it: final (a refused address, a redirect) or an HTTP status. */
function asIntegrationError(err: unknown, s: AnthropicSettings): unknown {
  // The SDK wraps what its fetch threw; a refused address is final, not a connection to retry.
  if (err instanceof Anthropic.APIConnectionError && err.cause instanceof DestinationRefused)
    return err.cause;
  if (!(err instanceof Anthropic.APIError) || typeof err.status !== 'number') return err;
  if (err.status >= 300 && err.status < 400) {
    return new DestinationRefused(
      `the Anthropic API at ${s.baseUrl ?? 'its default URL'} answered ${err.status}: redirects are not followed`,
    );
  }
  const headers = err.headers as Headers | undefined;
  const retryAfter = Number(headers?.get('retry-after'));
  return new IntegrationHttpError(
    'anthropic',
    err.status,
    err.message,
    Number.isFinite(retryAfter) ? retryAfter * 1000 : undefined,
  );
}

/** The `eval.result` of one judged sample; its id is stable, so a retried judgement counts once. */
function evalResult(input: JudgeInput, sample: JudgeSample, model: string, score: number): EvalResultEvent {
  return {
    type: 'eval.result',
    id: `eval-${sample.request_id}-${model}`.slice(0, 128),
    timestamp: new Date().toISOString(),
    target: input.target,
    segment: input.segment,
    ...(sample.arm ? { arm: sample.arm } : {}),
    ...(sample.config_version ? { config_version: sample.config_version } : {}),
    request_id: sample.request_id,
    evaluator: `llm-judge:${model}`,
    score,
  };
}

export function createAnthropicActivities(deps: AnthropicDeps) {
  const clients = new Map<string, Anthropic>();
  const fetch = guardedFetch(deps.destinations, {
    timeoutMs: deps.timeoutMs,
    maxResponseBytes: MAX_RESPONSE_BYTES,
  });
  const clientFor = (s: AnthropicSettings) => {
    const key = `${s.baseUrl ?? ''}\n${s.apiKey}`;
    let c = clients.get(key);
    if (!c) {
      c = new Anthropic({
        apiKey: s.apiKey,
        baseURL: s.baseUrl ?? 'https://api.anthropic.com',
        maxRetries: deps.maxRetries,
        timeout: deps.timeoutMs,
        fetch,
      });
      clients.set(key, c);
    }
    return c;
  };
  const settings = async () => {
    const s = await deps.settings.anthropic();
    if (!s) throw ApplicationFailure.nonRetryable('Anthropic is not configured', FAILURE_TYPES.InvalidConfig);
    return s;
  };

  /** One Messages API call under the integration's isolation; SDK API errors become retry decisions. */
  const complete = async (
    s: AnthropicSettings,
    usage: Usage,
    params: { system: string; user: string; maxTokens: number; use: 'judge' | 'propose' },
  ): Promise<{ text: string; input_tokens: number; output_tokens: number }> => {
    const message = await deps.isolation.run('anthropic', async () => {
      try {
        return await clientFor(s).messages.create({
          model: s.model,
          max_tokens: params.maxTokens,
          system: params.system,
          messages: [{ role: 'user', content: params.user }],
        });
      } catch (err) {
        throw asIntegrationError(err, s);
      }
    });
    const { input_tokens, output_tokens } = message.usage;
    usage.calls += 1;
    usage.input_tokens += input_tokens;
    usage.output_tokens += output_tokens;
    usage.cost_usd = costUsd(s, usage.input_tokens, usage.output_tokens);
    deps.metrics?.judgeTokens.inc({ use: params.use, direction: 'input' }, input_tokens);
    deps.metrics?.judgeTokens.inc({ use: params.use, direction: 'output' }, output_tokens);
    deps.metrics?.judgeCost.inc({ use: params.use }, costUsd(s, input_tokens, output_tokens));
    const text = message.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
    return { text, input_tokens, output_tokens };
  };

  return {
    /**
     * Scores a deterministic sample of requests with Claude as judge and emits one `eval.result` per
     * score (event id `eval-<request id>-<model>`, so a retry never double-counts). Retries 429/5xx;
     * `InvalidConfig` when Anthropic is not configured.
     */
    async judgeSamples(input: JudgeInput): Promise<JudgeResult> {
      const s = await settings();
      const usage: Usage = { calls: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0, model: s.model };
      const chosen = input.samples.filter((x) => sampled(x.request_id, input.sampleRate ?? 1));
      const result: JudgeResult = {
        scored: [],
        skipped: input.samples.length - chosen.length,
        unparseable: [],
        usage,
        per_request: [],
      };
      const events: EvalResultEvent[] = [];
      for (const sample of chosen) {
        const { text, ...tokens } = await complete(s, usage, {
          system: JUDGE_SYSTEM,
          user: `Rubric: ${input.rubric ?? s.rubric ?? 'Is the answer correct, helpful and concise for the input?'}\n\n<input>\n${sample.input}\n</input>\n\n<answer>\n${sample.output}\n</answer>`,
          maxTokens: 300,
          use: 'judge',
        });
        result.per_request.push({
          request_id: sample.request_id,
          ...tokens,
          cost_usd: costUsd(s, tokens.input_tokens, tokens.output_tokens),
        });
        const parsed = firstJson(text) as { score?: unknown; reason?: unknown } | undefined;
        const score = typeof parsed?.score === 'number' ? parsed.score : NaN;
        if (!(score >= 0 && score <= 1)) {
          result.unparseable.push(sample.request_id);
          deps.metrics?.judgeScores.inc({ outcome: 'unparseable' });
          continue;
        }
        deps.metrics?.judgeScores.inc({ outcome: 'scored' });
        result.scored.push({
          request_id: sample.request_id,
          score,
          reason: typeof parsed?.reason === 'string' ? parsed.reason : '',
        });
        events.push(evalResult(input, sample, s.model, score));
      }
      if (events.length > 0) await deps.emit(events);
      deps.logger.info(
        {
          target: input.target,
          scored: result.scored.length,
          tokens: usage.input_tokens + usage.output_tokens,
          cost_usd: usage.cost_usd,
        },
        'LLM judge scored samples',
      );
      return result;
    },

    /**
     * Asks Claude for `count` variants of a prompt template aimed at an objective; used by the
     * prompt-optimization strategy. Variants must keep every {{placeholder}} of the template.
     */
    async proposePromptVariants(input: PromptVariantInput): Promise<PromptVariantResult> {
      const s = await settings();
      const usage: Usage = { calls: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0, model: s.model };
      const examples = (input.examples ?? [])
        .slice(0, 5)
        .map(
          (e, i) =>
            `Example ${i + 1}${e.score !== undefined ? ` (score ${e.score})` : ''}:\ninput: ${e.input}\noutput: ${e.output}`,
        )
        .join('\n\n');
      const { text } = await complete(s, usage, {
        use: 'propose',
        system:
          'You improve prompt templates. Reply with only JSON: {"variants": [{"template": "...", "rationale": "..."}]}. ' +
          'Keep every {{placeholder}} of the original template unchanged.',
        user: `Objective: ${input.objective}\nNumber of variants: ${input.count}\n\n<template>\n${input.template}\n</template>${examples ? `\n\n${examples}` : ''}`,
        maxTokens: 2000,
      });
      const parsed = firstJson(text) as
        { variants?: { template?: unknown; rationale?: unknown }[] } | undefined;
      const placeholders = input.template.match(/\{\{\s*[\w.]+\s*\}\}/g) ?? [];
      const variants = (parsed?.variants ?? [])
        .filter(
          (v): v is { template: string; rationale?: unknown } =>
            typeof v.template === 'string' && v.template.trim().length > 0,
        )
        .filter((v) => placeholders.every((p) => v.template.includes(p)))
        .slice(0, input.count)
        .map((v) => ({
          template: v.template,
          rationale: typeof v.rationale === 'string' ? v.rationale : '',
        }));
      if (variants.length === 0) {
        throw ApplicationFailure.create({ message: 'Claude proposed no usable variant', type: 'NoVariants' });
      }
      return { variants, usage };
    },
  };
}
