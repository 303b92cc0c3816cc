/**
 * Records real runs of canaryRollout, rollback and an optimizationCycle that waits for approval and
 * starts a rollout, on the running dev server, and saves their histories under tests/histories/ for
 * the replay tests. Verdicts and drafts are scripted (the runs, messages and timers are real).
 * Usage: eval "$(bash infra/services.sh env)"; DATABASE_URL=$TEST_DATABASE_URL npx tsx tests/replay/record-rollout-histories.ts [--tag TAG] [SECTION...]
 * Sections: messages, failed-stage, cycle-approval, health-watch, serving, promoted-watch, exploration,
 * manual-revert, cycle-cancelled (all when none is named). Name only the new ones: re-recording an
 * existing history with today's code would drop what it guards.
 * `--tag TAG` saves each history as `<name>.TAG.json` beside the older ones, so a restructured
 * workflow adds its own recordings and keeps the old ones replaying (docs/workflows.md).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createAnalysisActivities } from '../../activities/analysis';
import { createOrchestrationActivities } from '../../activities/orchestration';
import { compose } from '../../app/compose';
import { WORKFLOW_TYPES, type TaskQueues } from '../../domain/names';
import { createLogger } from '../../platform/logger';
import { installRuntime, workflowBundlePath } from '../../platform/temporal';
import {
  approveStageUpdate,
  cycleStatusQuery,
  decideApprovalUpdate,
  pauseRolloutSignal,
  resumeRolloutSignal,
  rolloutStatusQuery,
  type CycleStatus,
  type RollbackInput,
  type RolloutInput,
} from '../../workflows/contracts';
import { eventually, testEnv, uniqueName } from '../helpers/env';
import { ROOT } from '../helpers/process';
import {
  newAnalysisScript,
  scriptedAnalysisActivities,
  seedApprovedRollout,
  seedTarget,
  servingDraft,
  switchDraft,
} from '../helpers/rollout';

const SECTIONS = [
  'messages',
  'failed-stage',
  'cycle-approval',
  'health-watch',
  'serving',
  'promoted-watch',
  'exploration',
  'manual-revert',
  'cycle-cancelled',
];
const args = process.argv.slice(2);
const tagAt = args.indexOf('--tag');
const tag = tagAt >= 0 ? args.splice(tagAt, 2)[1] : undefined;
if (tagAt >= 0 && !tag) throw new Error('--tag needs a name');
const named = args;
const unknown = named.filter((n) => !SECTIONS.includes(n));
if (unknown.length > 0)
  throw new Error(`unknown section(s) ${unknown.join(', ')}; known: ${SECTIONS.join(', ')}`);
const want = (section: string) => named.length === 0 || named.includes(section);

const logger = createLogger('record', 'warn');
installRuntime(logger);
const suffix = uniqueName('rec');
const taskQueues: TaskQueues = {
  orchestration: `orch-${suffix}`,
  analysis: `analysis-${suffix}`,
  integrations: `int-${suffix}`,
};
const container = await compose(testEnv, { logger, poolMax: 5, taskQueues });
const { repos } = container;
const scripted = newAnalysisScript();
const { verdicts: script, drafts } = scripted;

const native = await NativeConnection.connect({ address: testEnv.TEMPORAL_ADDRESS });
const workers = [
  await Worker.create({
    connection: native,
    taskQueue: taskQueues.orchestration,
    workflowBundle: { codePath: await workflowBundlePath() },
    // No integrations worker here: published events are stored.
    activities: createOrchestrationActivities(container, { notify: false }),
  }),
  await Worker.create({
    connection: native,
    taskQueue: taskQueues.analysis,
    activities: scriptedAnalysisActivities(createAnalysisActivities(container), scripted),
  }),
];
const runs = workers.map((w) => w.run());
const connection = await Connection.connect({ address: testEnv.TEMPORAL_ADDRESS });
const client = new Client({ connection, namespace: testEnv.TEMPORAL_NAMESPACE });

const seed = () =>
  seedTarget(repos, {
    prefix: 'rec-bot',
    policy: {
      rollout: {
        preset: 'custom',
        stages: [
          { canary_bps: 1000, bake_seconds: 2 },
          { canary_bps: 10000, bake_seconds: 1, requires_approval: true },
        ],
      },
    },
  });

async function rolloutInput(target: string): Promise<RolloutInput> {
  const { input } = await seedApprovedRollout(repos, target, taskQueues, {
    overrides: { maxBakeExtensions: 1, minSamplesPerArm: 100 },
  });
  return input;
}

async function save(workflowId: string, name: string) {
  const file = tag ? name.replace(/\.json$/, `.${tag}.json`) : name;
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  writeFileSync(join(ROOT, 'tests', 'histories', file), historyToJSON(history));
  process.stdout.write(
    `saved ${history.events?.length ?? 0} events of ${workflowId} to tests/histories/${file}\n`,
  );
}

// 1. A rollout steered by every message: pause and resume during the first bake, a marginal verdict
//    that extends it, then an approval of the second stage; it is promoted.
if (want('messages')) {
  const target = await seed();
  script.set(target, ['marginal', 'pass', 'pass']);
  const input = await rolloutInput(target);
  const id = `rollout-${target}-${input.decisionId}`;
  const h = await client.workflow.start(WORKFLOW_TYPES.canaryRollout, {
    workflowId: id,
    taskQueue: taskQueues.orchestration,
    args: [input],
  });
  await eventually(async () => (await h.query(rolloutStatusQuery)).weights !== null);
  await h.signal(pauseRolloutSignal, { by: 'recorder' });
  await eventually(async () => (await h.query(rolloutStatusQuery)).state === 'paused');
  await h.signal(resumeRolloutSignal, {});
  await eventually(async () => (await h.query(rolloutStatusQuery)).awaitingApproval === 1, {
    timeoutMs: 30_000,
  });
  await h.executeUpdate(approveStageUpdate, { args: [{ stage: 1, by: 'recorder' }] });
  await h.result();
  await save(id, 'canary-rollout-promoted-with-messages.json');
}

// 2. A rollout whose first stage fails: it rolls back through the rollback child.
if (want('failed-stage')) {
  const target = await seed();
  script.set(target, ['fail']);
  const input = await rolloutInput(target);
  const id = `rollout-${target}-${input.decisionId}`;
  await client.workflow.execute(WORKFLOW_TYPES.canaryRollout, {
    workflowId: id,
    taskQueue: taskQueues.orchestration,
    args: [input],
  });
  await save(id, 'canary-rollout-failed-stage.json');
  await save(`rollback-${target}-default-v1`, 'rollback-after-failed-stage.json');
}

// 3. A cycle whose decision needs a person: approved through the update, it starts the rollout child.
if (want('cycle-approval')) {
  const target = await seed();
  drafts.set(target, [switchDraft(target, true)]);
  const id = uniqueName(`cycle-${target}`);
  const h = await client.workflow.start(WORKFLOW_TYPES.optimizationCycle, {
    workflowId: id,
    taskQueue: taskQueues.orchestration,
    args: [{ target, trigger: 'api', taskQueues }],
  });
  const s = await eventually(async () => {
    const st = await h.query<CycleStatus>('cycleStatus');
    return st.phase === 'awaiting_approval' ? st : undefined;
  });
  await h.executeUpdate(decideApprovalUpdate, {
    args: [{ decisionId: s.awaitingApproval![0]!, approve: true, by: 'recorder' }],
  });
  const result = (await h.result()) as { rolloutIds: string[] };
  await save(id, 'optimization-cycle-approval-starts-rollout.json');
  // Let the child finish so the recorder leaves nothing running.
  const child = client.workflow.getHandle(result.rolloutIds[0]!);
  await eventually(async () => (await child.query(rolloutStatusQuery)).awaitingApproval === 1, {
    timeoutMs: 30_000,
  });
  await child.executeUpdate(approveStageUpdate, { args: [{}] });
  await child.result();
  // The promoted child handed itself to a day-long health watch whose worker stops with this script.
  await client.workflow.getHandle(`health-${target}`).terminate('history recorded');
}

// 4. A promoted rollout handed to the health watch, which sees a degradation and rolls back: two
//    consecutive failed checks since the watch checks SLOs too (one noisy window is only a strike).
if (want('health-watch')) {
  const target = await seed();
  script.set(target, ['pass', 'pass', 'pass', 'fail', 'fail']);
  const input = { ...(await rolloutInput(target)), healthWatch: { intervalSeconds: 1, durationSeconds: 30 } };
  await promote(target, input);
  await client.workflow.getHandle(`health-${target}`).result();
  await save(`health-${target}`, 'health-watch-rolled-back.json');
}

// 5. A cycle whose rate_limit decision starts a before/after rollout of the serving change (and, with
//    nothing to propose, no prompt-proposal child); a degraded after window rolls it back.
if (want('serving')) {
  const target = await seedTarget(repos, {
    prefix: 'rec-serving',
    policy: { rollout: { preset: 'balanced', bake_seconds: 2, max_bake_extensions: 1 } },
  });
  script.set(target, ['marginal', 'fail']);
  drafts.set(target, [servingDraft(target, 1, { arm: 'big', field: 'max_concurrency', from: null, to: 24 })]);
  const id = uniqueName(`cycle-${target}`);
  const result = (await client.workflow.execute(WORKFLOW_TYPES.optimizationCycle, {
    workflowId: id,
    taskQueue: taskQueues.orchestration,
    args: [{ target, trigger: 'api', taskQueues }],
  })) as { rolloutIds: string[] };
  await save(id, 'optimization-cycle-serving-rollout.json');
  await client.workflow.getHandle(result.rolloutIds[0]!).result();
  await save(result.rolloutIds[0]!, 'canary-rollout-serving-rolled-back.json');
}

/** Starts a rollout and approves its second stage: it promotes and hands itself to a health watch. */
async function promote(target: string, input: RolloutInput): Promise<string> {
  const id = `rollout-${target}-${input.decisionId}`;
  const h = await client.workflow.start(WORKFLOW_TYPES.canaryRollout, {
    workflowId: id,
    taskQueue: taskQueues.orchestration,
    args: [input],
  });
  await eventually(async () => (await h.query(rolloutStatusQuery)).awaitingApproval === 1, {
    timeoutMs: 30_000,
  });
  await h.executeUpdate(approveStageUpdate, { args: [{}] });
  await h.result();
  return id;
}

// 6. A promoted rollout that starts its health watch (the watch itself is section 4's).
if (want('promoted-watch')) {
  const target = await seed();
  const input = {
    ...(await rolloutInput(target)),
    healthWatch: { intervalSeconds: 60, durationSeconds: 600 },
  };
  const id = await promote(target, input);
  await save(id, 'canary-rollout-promoted-starts-health-watch.json');
  await client.workflow.getHandle(`health-${target}`).terminate('history recorded');
}

// 7. A cycle whose exploration re-spread is applied at once, with no rollout.
if (want('exploration')) {
  const target = await seed();
  drafts.set(target, [
    { ...switchDraft(target, false), kind: 'exploration', to_weights: { big: 9000, small: 1000 } },
  ]);
  const id = uniqueName(`cycle-${target}`);
  await client.workflow.execute(WORKFLOW_TYPES.optimizationCycle, {
    workflowId: id,
    taskQueue: taskQueues.orchestration,
    args: [{ target, trigger: 'api', taskQueues, draftPromptVariants: false }],
  });
  await save(id, 'optimization-cycle-exploration-applied.json');
}

// 8. A person reverts a promoted rollout (as app/rollouts.ts starts it): the rollback records it rolled back.
if (want('manual-revert')) {
  const target = await seed();
  const input = await rolloutInput(target);
  const rolloutId = await promote(target, input);
  const promoted = (await container.repos.targets.currentConfig(target, 'default'))!.version;
  const revert: RollbackInput = {
    target,
    segment: 'default',
    restoreVersion: input.fromVersion,
    trigger: 'manual',
    reason: 'reverted by recorder',
    rolloutId,
    decisionId: input.decisionId,
    taskQueues,
    expectedCurrentVersion: promoted,
  };
  const id = `rollback-${target}-default-v${input.fromVersion}`;
  await client.workflow.execute(WORKFLOW_TYPES.rollback, {
    workflowId: id,
    taskQueue: taskQueues.orchestration,
    args: [revert],
  });
  await save(id, 'rollback-manual-revert.json');
}

// 9. A cycle cancelled while its decision awaits a person: the decision is marked expired.
if (want('cycle-cancelled')) {
  const target = await seed();
  drafts.set(target, [switchDraft(target, true)]);
  const id = uniqueName(`cycle-${target}`);
  const h = await client.workflow.start(WORKFLOW_TYPES.optimizationCycle, {
    workflowId: id,
    taskQueue: taskQueues.orchestration,
    args: [{ target, trigger: 'api', taskQueues, draftPromptVariants: false }],
  });
  await eventually(async () => (await h.query(cycleStatusQuery)).phase === 'awaiting_approval');
  await h.cancel();
  await h.result().catch(() => undefined);
  await save(id, 'optimization-cycle-cancelled-awaiting-approval.json');
}

for (const w of workers) w.shutdown();
await Promise.all(runs);
await native.close();
await connection.close();
await container.close();
