/**
 * A decision is answered in the caller's name: whoever approves is the authenticated identity, recorded
 * in the cycle's history and in the `decision.approved` event; a body that names someone else is refused.
 */
// First: zod-openapi must extend zod before any domain schema is built.
import '@hono/zod-openapi';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { createCyclesService } from '../../app/cycles';
import { workflowIds } from '../../domain/names';
import { createAnalysisActivities } from '../../activities/analysis';
import type { DecideInput } from '../../workflows/contracts';
import { eventually, testEnv, uniqueName } from '../helpers/env';
import { switchDraft } from '../helpers/rollout';
import { call, startTestSystem, type TestSystem } from '../helpers/system';
import { arms } from '../grpc/helpers';

let sys: TestSystem;
let app: ReturnType<typeof createApp>;
let connection: NativeConnection;
let worker: Worker;
let running: Promise<void>;

beforeAll(async () => {
  sys = await startTestSystem();
  // An analysis worker whose cycles always propose one change that needs a person.
  const queue = uniqueName('decide-analysis');
  connection = await NativeConnection.connect({ address: testEnv.TEMPORAL_ADDRESS });
  worker = await Worker.create({
    connection,
    namespace: testEnv.TEMPORAL_NAMESPACE,
    taskQueue: queue,
    activities: {
      ...createAnalysisActivities(sys.container),
      decideCycle: async (input: DecideInput) => [switchDraft(input.target, true)],
    },
  });
  running = worker.run();
  const taskQueues = { ...sys.taskQueues, analysis: queue };
  const cycles = createCyclesService({ ...sys.deps, taskQueues });
  app = createApp({ ...sys.deps, taskQueues, services: { ...sys.deps.services, cycles } });
});
afterAll(async () => {
  worker?.shutdown();
  await running;
  await connection?.close();
  await sys?.stop();
});

describe('answering a decision', { timeout: 90_000 }, () => {
  it('records the caller as the approver, and refuses a body that names another', async () => {
    const target = uniqueName('approver');
    expect((await call(sys, 'POST', '/v1/targets', { name: target, arms })).status).toBe(201);
    const started = await call({ app }, 'POST', '/v1/optimizations', { target }, {}, { auth: sys.adminKey });
    expect(started.status).toBe(202);
    const decision = await eventually(async () => {
      const d = await call(sys, 'GET', `/v1/decisions?target=${target}&status=awaiting_approval`);
      return d.body.items?.[0] as { id: string } | undefined;
    });

    const name = uniqueName('alice');
    const { key } = await sys.deps.repos.apiKeys.create({ name, roles: ['operator'], createdBy: 'test' });
    const impersonating = await call(
      { app },
      'POST',
      `/v1/decisions/${decision.id}/approve`,
      { by: 'mallory' },
      {},
      { auth: key },
    );
    expect(impersonating.status).toBe(422);
    // A strict body: the unknown key is named in the message of the root's issue.
    expect(JSON.stringify(impersonating.body.errors)).toContain('by');
    expect((await call(sys, 'GET', `/v1/decisions/${decision.id}`)).body.status).toBe('awaiting_approval');

    const approved = await call(
      { app },
      'POST',
      `/v1/decisions/${decision.id}/approve`,
      { reason: 'cheaper' },
      {},
      { auth: key },
    );
    expect(approved.status).toBe(200);
    expect(approved.body.decided_by).toMatch(new RegExp(`^${name} \\(key `));
    expect(approved.body.rollout_id).toBe(workflowIds.rollout(target, decision.id));
    const event = await eventually(async () => {
      const r = await sys.deps.db.query<{ summary: string }>(
        `SELECT summary FROM domain_events WHERE target = $1 AND type = 'decision.approved'`,
        [target],
      );
      return r.rows[0];
    });
    expect(event.summary).toContain(`approved by ${approved.body.decided_by as string}: cheaper`);
    expect(event.summary).not.toContain('mallory');

    // The rollout the approval started holds a long bake; it is not under test here.
    await sys.client.workflow
      .getHandle(approved.body.rollout_id as string)
      .terminate('test done')
      .catch(() => undefined);
  });
});

describe('cancelling a cycle', { timeout: 90_000 }, () => {
  it('leaves none of its decisions awaiting approval', async () => {
    const api = { app, adminKey: sys.adminKey };
    const target = uniqueName('cancelled');
    expect((await call(api, 'POST', '/v1/targets', { name: target, arms })).status).toBe(201);
    const started = await call(api, 'POST', '/v1/optimizations', { target });
    expect(started.status).toBe(202);
    const cycleId = started.body.id as string;
    const decision = await eventually(async () => {
      const d = await call(api, 'GET', `/v1/decisions?target=${target}&status=awaiting_approval`);
      return d.body.items?.[0] as { id: string } | undefined;
    });

    expect((await call(api, 'POST', `/v1/optimizations/${cycleId}/cancel`)).status).toBe(202);
    const settled = await eventually(async () => {
      const d = await call(api, 'GET', `/v1/decisions/${decision.id}`);
      return d.body.status !== 'awaiting_approval' && (d.body as { status: string });
    });
    expect(settled.status).toBe('expired');
    expect(
      (await call(api, 'GET', `/v1/decisions?target=${target}&status=awaiting_approval`)).body.items,
    ).toEqual([]);
    const run = await eventually(async () => {
      const d = await sys.client.workflow.getHandle(cycleId).describe();
      return d.status.name !== 'RUNNING' && d;
    });
    expect(run.status.name).toBe('CANCELLED');
    // Nobody can answer it any more: the cycle that would carry the answer out is gone.
    const late = await call(api, 'POST', `/v1/decisions/${decision.id}/approve`, { reason: 'too late' });
    expect(late.status).toBe(409);
  });
});
