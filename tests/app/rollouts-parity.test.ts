/**
 * REST and gRPC steer rollouts through one service (app/rollouts.ts): the same scenario through each door
 * gives the same outcome at every step and leaves the same state behind, and the approver a run records
 * is the authenticated caller whatever the request says.
 */
// First: zod-openapi must extend zod before any domain schema is built.
import '@hono/zod-openapi';
import * as grpc from '@grpc/grpc-js';
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGrpcServer, type GrpcServer } from '../../api/grpc/server';
import { RolloutServiceClient } from '../../proto/gen/llmopt/v1/rollout';
import { eventually } from '../helpers/env';
import { call, startTestSystem, type TestSystem } from '../helpers/system';
import { md } from '../grpc/helpers';
import { seedPromotedRollout, servedConfig, startGatedRollout, endOpenRuns } from './rollouts-fixtures';

let sys: TestSystem;
let server: GrpcServer;
let rpc: RolloutServiceClient;

beforeAll(async () => {
  sys = await startTestSystem();
  server = await startGrpcServer(sys.deps, sys.app.security, { host: '127.0.0.1', port: 0, pollMs: 100 });
  rpc = new RolloutServiceClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
});
afterAll(async () => {
  if (sys) await endOpenRuns(sys);
  rpc?.close();
  await server?.stop();
  await sys?.stop();
});

/** What a caller learns from an answer, whichever door it came through. */
type Outcome = 'ok' | 'conflict' | 'not_found' | 'invalid' | `other ${string}`;

interface Door {
  pause(id: string): Promise<Outcome>;
  resume(id: string): Promise<Outcome>;
  /** `stage` 0-based; absent approves the stage that awaits. */
  approve(id: string, stage?: number): Promise<Outcome>;
  abort(id: string): Promise<Outcome>;
  revert(id: string): Promise<Outcome>;
}

function restDoor(key: string): Door {
  const post = async (id: string, action: string, body: object): Promise<Outcome> => {
    const r = await call(sys, 'POST', `/v1/rollouts/${id}/${action}`, body, {}, { auth: key });
    if (r.status >= 200 && r.status < 300) return 'ok';
    return (
      ({ 409: 'conflict', 404: 'not_found', 422: 'invalid' } as const)[r.status as 409 | 404 | 422] ??
      `other ${r.status}`
    );
  };
  return {
    pause: (id) => post(id, 'pause', { reason: 'parity' }),
    resume: (id) => post(id, 'resume', {}),
    approve: (id, stage) => post(id, 'approve', stage === undefined ? {} : { stage }),
    abort: (id) => post(id, 'abort', { reason: 'parity' }),
    revert: (id) => post(id, 'revert', { reason: 'parity' }),
  };
}

function grpcDoor(key: string): Door {
  const unary = (method: string, req: object) =>
    new Promise<Outcome>((resolve) => {
      (
        rpc as unknown as Record<
          string,
          (r: object, m: grpc.Metadata, cb: (e: grpc.ServiceError | null) => void) => void
        >
      )[method]!(req, md(key), (err) => {
        if (!err) return resolve('ok');
        const known: Partial<Record<grpc.status, Outcome>> = {
          [grpc.status.FAILED_PRECONDITION]: 'conflict',
          [grpc.status.NOT_FOUND]: 'not_found',
          [grpc.status.INVALID_ARGUMENT]: 'invalid',
        };
        resolve(known[err.code] ?? `other ${grpc.status[err.code]}`);
      });
    });
  return {
    pause: (id) => unary('pause', { id, reason: 'parity' }),
    resume: (id) => unary('resume', { id, reason: '' }),
    approve: (id, stage) => unary('approve', stage === undefined ? { id } : { id, stage }),
    abort: (id) => unary('abort', { id, reason: 'parity' }),
    revert: (id) => unary('revert', { id, reason: 'parity' }),
  };
}

const detail = async (id: string) => (await call(sys, 'GET', `/v1/rollouts/${id}`)).body;

/** Every step of the scenario through one door: what it answered, and the state it left. */
async function scenario(door: Door, prefix: string) {
  const outcomes: Record<string, Outcome> = {};
  const { id, target } = await startGatedRollout(sys, prefix);

  outcomes.pause = await door.pause(id);
  await eventually(async () => (await detail(id)).workflow.paused === true, { what: 'the pause' });
  outcomes.secondPause = await door.pause(id);
  outcomes.resume = await door.resume(id);
  await eventually(async () => (await detail(id)).workflow.paused === false, { what: 'the resume' });
  outcomes.resumeNotPaused = await door.resume(id);

  outcomes.approveWrongStage = await door.approve(id, 1);
  outcomes.approve = await door.approve(id, 0);
  await eventually(async () => (await detail(id)).weights?.small === 500, { what: 'stage 0 weights' });
  outcomes.approveAgain = await door.approve(id);

  outcomes.abort = await door.abort(id);
  const aborted = await eventually(
    async () => {
      const d = await detail(id);
      return d.state === 'aborted' && d.workflow.status === 'completed' ? d : undefined;
    },
    { what: 'the abort to complete', timeoutMs: 40_000 },
  );
  outcomes.abortFinished = await door.abort(id);
  outcomes.pauseFinished = await door.pause(id);
  outcomes.approveFinished = await door.approve(id);
  outcomes.revertAborted = await door.revert(id);

  const promoted = await seedPromotedRollout(sys, `${prefix}-p`);
  outcomes.revert = await door.revert(promoted.id);
  outcomes.revertAgain = await door.revert(promoted.id);
  outcomes.unknown = await door.pause(`rollout-${target}-missing`);

  return {
    outcomes,
    aborted: {
      state: aborted.state,
      current_stage: aborted.current_stage,
      config: await servedConfig(sys, target),
    },
    reverted: {
      state: (await detail(promoted.id)).state,
      config: await servedConfig(sys, promoted.target),
    },
  };
}

describe('rollouts through REST and gRPC', () => {
  it('answer every step of the same scenario alike and leave the same state', async () => {
    const [rest, rpcResult] = await Promise.all([
      scenario(restDoor(sys.adminKey), 'parity-rest'),
      scenario(grpcDoor(sys.adminKey), 'parity-grpc'),
    ]);
    expect(rest.outcomes).toEqual({
      pause: 'ok',
      secondPause: 'conflict',
      resume: 'ok',
      resumeNotPaused: 'conflict',
      approveWrongStage: 'conflict',
      approve: 'ok',
      approveAgain: 'conflict',
      abort: 'ok',
      abortFinished: 'conflict',
      pauseFinished: 'conflict',
      approveFinished: 'conflict',
      revertAborted: 'conflict',
      revert: 'ok',
      revertAgain: 'conflict',
      unknown: 'not_found',
    });
    expect(rpcResult.outcomes).toEqual(rest.outcomes);
    // Aborted after stage 0 wrote v2: the rollback restored v1's weights as v3. Reverted from v2: the same.
    expect(rest.aborted).toEqual({
      state: 'aborted',
      current_stage: 0,
      config: { version: 3, weights: { big: 10000 } },
    });
    expect(rest.reverted).toEqual({ state: 'rolled_back', config: { version: 3, weights: { big: 10000 } } });
    expect(rpcResult.aborted).toEqual(rest.aborted);
    expect(rpcResult.reverted).toEqual(rest.reverted);
  });
});

/** The `by` of each approveStage update the run accepted, read from its history. */
async function approversInHistory(id: string): Promise<unknown[]> {
  const history = await sys.client.workflow.getHandle(id).fetchHistory();
  return (history.events ?? []).flatMap((e) => {
    const payload =
      e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.args?.payloads?.[0];
    if (!payload) return [];
    return [defaultPayloadConverter.fromPayload<{ by?: unknown }>(payload).by];
  });
}

describe('the approver of a stage', () => {
  it('is the caller, through either door, whatever the request says', async () => {
    const key = await sys.keyFor('operator');
    const viaRest = await startGatedRollout(sys, 'approver-rest');
    const viaGrpc = await startGatedRollout(sys, 'approver-grpc');

    // A body naming someone else is refused at the door, naming the field; the stage still waits.
    const forged = await call(
      sys,
      'POST',
      `/v1/rollouts/${viaRest.id}/approve`,
      { stage: 0, by: 'mallory' },
      {},
      { auth: key },
    );
    expect(forged.status).toBe(422);
    expect(JSON.stringify(forged.body.errors)).toContain('by');
    expect((await detail(viaRest.id)).workflow.awaiting_approval_stage).toBe(0);

    const approved = await call(
      sys,
      'POST',
      `/v1/rollouts/${viaRest.id}/approve`,
      { stage: 0 },
      {},
      { auth: key },
    );
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ id: viaRest.id, stage: 0, approved: true });
    expect(approved.body.approved_by).toMatch(/^test operator \(key /);
    expect(await grpcDoor(key).approve(viaGrpc.id, 0)).toBe('ok');

    expect(await approversInHistory(viaRest.id)).toEqual([approved.body.approved_by]);
    expect(await approversInHistory(viaGrpc.id)).toEqual([approved.body.approved_by]);

    for (const id of [viaRest.id, viaGrpc.id]) expect(await grpcDoor(key).abort(id)).toBe('ok');
    // Ended before this file's worker stops: no run is left running without a worker for others to find.
    for (const id of [viaRest.id, viaGrpc.id])
      expect(await sys.client.workflow.getHandle(id).result()).toMatchObject({ state: 'aborted' });
  });
});
