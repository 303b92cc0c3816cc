/**
 * The optimization cycle asks Claude for new prompt variants (time-skipping server, real database, a
 * local Anthropic Messages server): a concluded prompt experiment makes the cycle start
 * `draftPromptVariants` on the integrations queue, whose variants are stored for approval; a failing or
 * unconfigured Anthropic leaves the cycle's result untouched.
 */
// The app (and with it @hono/zod-openapi) loads before any other zod schema is built.
import {
  anthropicMessage,
  integrationEnv,
  startServer,
  takeTurnsWithIntegrationSettings,
  type LocalServer,
} from './fixtures';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createIntegrationActivities } from '../../activities/integrations';
import { WORKFLOW_TYPES } from '../../domain/names';
import { Arm, type DecisionDraft } from '../../domain/model';
import { createIntegrationsRepo } from '../../adapters/db/repos/integrations';
import { createJudgeRepo } from '../../adapters/db/repos/judge';
import { secretBoxFromEnv } from '../../platform/secrets';
import { promptProposalWorkflowId, type ProposalOutcome } from '../../workflows/notify-types';
import type { CycleInput, CycleResult } from '../../workflows/types';
import { uniqueName } from '../helpers/env';
import { seedTarget } from '../helpers/rollout';
import { startRolloutEnv, type RolloutTestEnv } from '../workflows/rollout-env';

let t: RolloutTestEnv;
let anthropic: LocalServer;
const env = integrationEnv();
const TEMPLATE = 'You are a support agent. Answer {{question}} politely.';

takeTurnsWithIntegrationSettings();

beforeAll(async () => {
  // The rollout environment's integrations worker hosts the notify workflows; its activities, which
  // call Claude, are the real ones under test here.
  t = await startRolloutEnv({ env, integrationActivities: (c) => createIntegrationActivities(c) });
  anthropic = await startServer();
}, 120_000);
afterAll(async () => {
  await createIntegrationsRepo(t.db, secretBoxFromEnv(env)).remove('anthropic');
  await anthropic?.close();
  await t?.stop();
});

const configure = () =>
  createIntegrationsRepo(t.db, secretBoxFromEnv(env)).put('anthropic', {
    enabled: true,
    settings: {
      base_url: anthropic.url,
      model: 'claude-test-writer',
      prompt_templates: { 'support-v2': TEMPLATE },
    },
    secrets: { api_key: 'sk-ant-writer' },
  });
beforeEach(async () => {
  anthropic.received.length = 0;
});

const arms = ['big', 'v2'].map((id) =>
  Arm.parse({
    id,
    provider: 'openai',
    model: 'gpt-4o',
    prompt_template: id === 'v2' ? 'support-v2' : 'support-v1',
  }),
);

/** A prompt experiment that concluded with `v2` winning (no rollout: the test is about the proposal). */
function concludedExperiment(target: string): DecisionDraft {
  return {
    target,
    segment: 'default',
    strategy: 'prompt_optimization',
    kind: 'prompt_variant',
    from_version: null,
    from_weights: null,
    to_weights: { v2: 10000 },
    canary_arm: 'v2',
    baseline_arm: 'big',
    expected_impact: { cost: null, latency: null, quality: { relative: 0.05, low: 0, high: 0.1 } },
    confidence: 0.99,
    safety_checks: [],
    rollback_plan: 'restore v1',
    explanation: 'v2 beats big in mean quality',
    requires_approval: false,
  } as unknown as DecisionDraft;
}

async function runCycle(target: string) {
  const cycleId = uniqueName(`cycle-${target}`);
  const cycle = await t.env.client.workflow.execute<(i: CycleInput) => Promise<CycleResult>>(
    WORKFLOW_TYPES.optimizationCycle,
    {
      workflowId: cycleId,
      taskQueue: t.taskQueues.orchestration,
      args: [{ target, trigger: 'api', taskQueues: t.taskQueues }],
    },
  );
  const outcomes = (await t.env.client.workflow
    .getHandle(promptProposalWorkflowId(cycleId))
    .result()) as ProposalOutcome[];
  return { cycle, cycleId, outcomes };
}

describe('prompt-variant proposal in the optimization cycle', { timeout: 120_000 }, () => {
  it('drafts variants from the winner of a concluded experiment and stores them for approval', async () => {
    await configure();
    anthropic.respond = () =>
      anthropicMessage(
        JSON.stringify({
          variants: [
            { template: 'Answer {{question}} briefly and politely.', rationale: 'shorter' },
            { template: 'As a support agent, answer {{question}}.', rationale: 'role first' },
          ],
        }),
        { input_tokens: 400, output_tokens: 80 },
        'claude-test-writer',
      );
    const target = await seedTarget(t.repos, { arms });
    t.drafts.set(target, [concludedExperiment(target)]);
    const { cycle, cycleId, outcomes } = await runCycle(target);

    expect(cycle.decisions.map((d) => d.kind)).toEqual(['prompt_variant']);
    expect(outcomes).toEqual([
      expect.objectContaining({ segment: 'default', status: 'proposed', variants: 2 }),
    ]);
    expect(anthropic.received).toHaveLength(1);
    expect(JSON.parse(anthropic.received[0]!.body).messages[0].content).toContain(TEMPLATE);
    const [stored] = await createJudgeRepo(t.db).listProposals(target);
    expect(stored).toMatchObject({
      id: outcomes[0]!.proposalId,
      cycle_id: cycleId,
      segment: 'default',
      base_arm: 'v2',
      decision_id: cycle.decisions[0]!.id,
      status: 'proposed',
      base_template: TEMPLATE,
      model: 'claude-test-writer',
      input_tokens: 400,
      output_tokens: 80,
      variants: [
        { template: 'Answer {{question}} briefly and politely.', rationale: 'shorter' },
        { template: 'As a support agent, answer {{question}}.', rationale: 'role first' },
      ],
    });
    expect(stored!.cost_usd).toBeCloseTo((400 * 3 + 80 * 15) / 1e6, 12);

    // The next cycle leaves the open proposal alone instead of asking again.
    const again = await runCycle(target);
    expect(again.outcomes[0]).toMatchObject({ status: 'skipped' });
    expect(anthropic.received).toHaveLength(1);
  });

  it('completes the cycle when Anthropic fails or is not configured', async () => {
    await configure();
    anthropic.respond = () => ({
      status: 500,
      body: { type: 'error', error: { type: 'api_error', message: 'boom' } },
    });
    const target = await seedTarget(t.repos, { arms });
    t.drafts.set(target, [concludedExperiment(target)]);
    const failing = await runCycle(target);
    expect(failing.cycle.decisions).toHaveLength(1);
    expect(failing.outcomes).toEqual([expect.objectContaining({ status: 'failed' })]);
    expect(anthropic.received.length).toBeGreaterThanOrEqual(1);
    expect(await createJudgeRepo(t.db).listProposals(target)).toEqual([]);

    await createIntegrationsRepo(t.db, secretBoxFromEnv(env)).remove('anthropic');
    const target2 = await seedTarget(t.repos, { arms });
    t.drafts.set(target2, [concludedExperiment(target2)]);
    const unconfigured = await runCycle(target2);
    expect(unconfigured.cycle.decisions).toHaveLength(1);
    expect(unconfigured.outcomes).toEqual([
      expect.objectContaining({ status: 'skipped', reason: 'Anthropic is not configured' }),
    ]);
  });
});
