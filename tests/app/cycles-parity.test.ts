/**
 * One cycle scenario through both doors, REST and gRPC, on the real Temporal dev server: start,
 * describe, list (newest first, a page at a time), cancel a running cycle, cancel a finished one, start
 * twice with one idempotency key. Both doors call app/cycles.ts, so their outcomes must agree: the same
 * id scheme, the same classes of success and failure, the same states.
 */
// First: zod-openapi must extend zod before any domain schema is built.
import '@hono/zod-openapi';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { startGrpcServer, type GrpcServer } from '../../api/grpc/server';
import type { ApiDeps } from '../../api/lib/types';
import { createCyclesService } from '../../app/cycles';
import { workflowIds } from '../../domain/names';
import { OptimizationServiceClient, type Optimization } from '../../proto/gen/llmopt/v1/optimization';
import { eventually, uniqueName } from '../helpers/env';
import { call, startTestSystem, type TestSystem } from '../helpers/system';
import { arms, md } from '../grpc/helpers';

let sys: TestSystem;
let app: ReturnType<typeof createApp>;
let server: GrpcServer;
let client: OptimizationServiceClient;

beforeAll(async () => {
  sys = await startTestSystem();
  // The analysis queue has no worker, so every cycle started here holds in its first step (loading the
  // target) until it is canceled: a running cycle that stays running for as long as the test needs.
  const taskQueues = { ...sys.taskQueues, analysis: uniqueName('idle') };
  const cycles = createCyclesService({ ...sys.deps, taskQueues });
  const deps: ApiDeps = { ...sys.deps, taskQueues, services: { ...sys.deps.services, cycles } };
  app = createApp(deps);
  server = await startGrpcServer(deps, app.security, { host: '127.0.0.1', port: 0, pollMs: 100 });
  client = new OptimizationServiceClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
});
afterAll(async () => {
  client?.close();
  await server?.stop();
  await sys?.stop();
});

/** What a door answered: `ok` with the body, or the class of its failure. */
type Outcome<T> = { ok: true; value: T } | { ok: false; failure: Failure };
type Failure = 'invalid' | 'not_found' | 'duplicate' | 'wrong_state' | 'other';

const fromHttp = (status: number): Failure =>
  status === 400 || status === 422
    ? 'invalid'
    : status === 404
      ? 'not_found'
      : status === 409
        ? 'wrong_state'
        : 'other';
const fromGrpc = (code: grpc.status): Failure =>
  code === grpc.status.INVALID_ARGUMENT
    ? 'invalid'
    : code === grpc.status.NOT_FOUND
      ? 'not_found'
      : code === grpc.status.FAILED_PRECONDITION
        ? 'wrong_state'
        : code === grpc.status.ALREADY_EXISTS
          ? 'duplicate'
          : 'other';

/** The common shape of a cycle as both doors answer it. */
interface Cycle {
  id: string;
  target: string;
  status: string;
  phase: string | null;
  trigger: string;
  cancelRequested: boolean;
}

const viaRest = {
  key: '',
  async ask<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const r = await call({ app }, method, path, body, headers, { auth: sys.adminKey });
    return (
      r.status < 300 ? { ok: true, value: r.body as T } : { ok: false, failure: fromHttp(r.status) }
    ) as Outcome<T>;
  },
  start(target: string, key?: string) {
    return this.ask<{ id: string }>(
      'POST',
      '/v1/optimizations',
      { target },
      key ? { 'idempotency-key': key } : {},
    );
  },
  async get(id: string) {
    return cycleOf(await this.ask<Record<string, unknown>>('GET', `/v1/optimizations/${id}`));
  },
  async cancel(id: string) {
    return cycleOf(
      await this.ask<Record<string, unknown>>('POST', `/v1/optimizations/${id}/cancel`, { reason: 'parity' }),
    );
  },
  async list(target: string, limit: number, cursor?: string) {
    const q = `target=${target}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
    const r = await this.ask<{ items: { id: string }[]; next_cursor: string | null }>(
      'GET',
      `/v1/optimizations?${q}`,
    );
    return r.ok
      ? { ok: true as const, value: { ids: r.value.items.map((i) => i.id), next: r.value.next_cursor } }
      : r;
  },
};

function unary<Res>(method: string, req: unknown): Promise<Outcome<Res>> {
  return new Promise((resolve) => {
    (
      client as unknown as Record<
        string,
        (r: unknown, m: grpc.Metadata, cb: (e: grpc.ServiceError | null, r: Res) => void) => void
      >
    )[method]!(req, md(sys.adminKey), (err, res) =>
      resolve(err ? { ok: false, failure: fromGrpc(err.code) } : { ok: true, value: res }),
    );
  });
}

const viaGrpc = {
  start: (target: string, key?: string) =>
    unary<{ id: string }>('trigger', { target, segment: '', idempotency_key: key ?? '' }),
  get: async (id: string) => cycleOf(await unary<Optimization>('get', { id })),
  cancel: async (id: string) => cycleOf(await unary<Optimization>('cancel', { id, reason: 'parity' })),
  async list(target: string, limit: number, cursor?: string) {
    const r = await unary<{ items: Optimization[]; next_cursor: string }>('list', {
      target,
      limit,
      cursor: cursor ?? '',
    });
    return r.ok
      ? {
          ok: true as const,
          value: { ids: r.value.items.map((i) => i.id), next: r.value.next_cursor || null },
        }
      : r;
  },
};

/** REST's `cancel_requested` and null, gRPC's `cancel_requested` and empty strings, as one shape. */
function cycleOf(r: Outcome<Record<string, unknown> | Optimization>): Outcome<Cycle> {
  if (!r.ok) return r;
  const v = r.value as Record<string, unknown>;
  return {
    ok: true,
    value: {
      id: v.id as string,
      target: v.target as string,
      status: v.status as string,
      phase: (v.phase as string | null) || null,
      trigger: v.trigger as string,
      cancelRequested: v.cancel_requested as boolean,
    },
  };
}

type Door = typeof viaRest | typeof viaGrpc;

/** The scenario, through one door; what it saw, with the door's own ids replaced by their shapes. */
async function scenario(door: Door) {
  const target = uniqueName('parity');
  expect((await call(sys, 'POST', '/v1/targets', { name: target, arms })).status).toBe(201);
  const seen: Record<string, unknown> = {};
  const ids: string[] = [];
  const shape = (id: string) =>
    id
      .replace(target, '<target>')
      .replace(/-\d{4}-\d{2}-\d{2}t\d{9}z$/, '-<time>')
      .replace(/-key-[0-9a-f]{20}$/, '-key-<digest>');

  const first = await door.start(target);
  const second = await door.start(target);
  if (!first.ok || !second.ok) throw new Error(`start failed: ${JSON.stringify([first, second])}`);
  ids.push(first.value.id, second.value.id);
  seen.startedIds = ids.map(shape);

  // Running, in its first step (the worker answers the phase query).
  const running = await eventually(async () => {
    const r = await door.get(first.value.id);
    return r.ok && r.value.phase ? r : undefined;
  });
  seen.running = running.ok && {
    ...running.value,
    id: shape(running.value.id),
    target: running.value.target === target,
  };

  // Newest first, one at a time: the second start, then the first, then no more.
  const page1 = await eventually(async () => {
    const p = await door.list(target, 1);
    return p.ok && p.value.ids.length === 1 && p.value.next ? p : undefined;
  });
  const page2 = page1.ok ? await door.list(target, 1, page1.value.next!) : page1;
  seen.pages = [page1, page2].map((p) =>
    p.ok ? { ids: p.value.ids.map((i) => ids.indexOf(i)), more: p.value.next !== null } : p,
  );

  const canceling = await door.cancel(first.value.id);
  seen.cancel = canceling.ok
    ? {
        accepted: true,
        cancelRequested: canceling.value.cancelRequested || canceling.value.status === 'canceled',
      }
    : canceling;
  const canceled = await eventually(async () => {
    const r = await door.get(first.value.id);
    return r.ok && r.value.status === 'canceled' ? r : undefined;
  });
  seen.canceled = canceled.ok && {
    status: canceled.value.status,
    cancelRequested: canceled.value.cancelRequested,
  };
  seen.cancelFinished = await door.cancel(first.value.id);
  await door.cancel(second.value.id);

  const key = uniqueName('key');
  const keyed = await door.start(target, key);
  const again = await door.start(target, key);
  seen.keyed = keyed.ok && again.ok && { id: shape(keyed.value.id), same: again.value.id === keyed.value.id };
  if (keyed.ok) await door.cancel(keyed.value.id);

  seen.unknownTarget = await door.start(uniqueName('none'));
  seen.unknownCycle = await door.get(workflowIds.cycle(target, 0));
  seen.malformedId = await door.get('cycle-..%2Fetc');
  seen.scheduledId = await door.get(`${workflowIds.cycleScheduled(target)}-2026-12-03T12:00:00Z`);
  seen.badCursor = await door.list(target, 1, 'bm90LWEtY3Vyc29y');
  return seen;
}

describe('cycles through REST and gRPC', { timeout: 120_000 }, () => {
  it('answer the same scenario with the same ids, outcomes and states', async () => {
    const [rest, overGrpc] = await Promise.all([scenario(viaRest), scenario(viaGrpc)]);
    expect(rest).toEqual({
      startedIds: ['cycle-<target>-<time>', 'cycle-<target>-<time>'],
      running: {
        id: 'cycle-<target>-<time>',
        target: true,
        status: 'running',
        phase: 'loading',
        trigger: 'api',
        cancelRequested: false,
      },
      pages: [
        { ids: [1], more: true },
        { ids: [0], more: false },
      ],
      cancel: { accepted: true, cancelRequested: true },
      canceled: { status: 'canceled', cancelRequested: false },
      cancelFinished: { ok: false, failure: 'wrong_state' },
      keyed: { id: 'cycle-<target>-key-<digest>', same: true },
      unknownTarget: { ok: false, failure: 'not_found' },
      unknownCycle: { ok: false, failure: 'not_found' },
      malformedId: { ok: false, failure: 'invalid' },
      scheduledId: { ok: false, failure: 'not_found' },
      badCursor: { ok: false, failure: 'invalid' },
    });
    expect(overGrpc).toEqual(rest);
  });

  it('names one cycle for one caller and key, whichever door the repeat comes through', async () => {
    const target = uniqueName('parity');
    expect((await call(sys, 'POST', '/v1/targets', { name: target, arms })).status).toBe(201);
    const key = uniqueName('key');
    const rest = await viaRest.start(target, key);
    const overGrpc = await viaGrpc.start(target, key);
    expect(rest.ok && overGrpc.ok && overGrpc.value.id === rest.value.id).toBe(true);
    if (rest.ok) await viaRest.cancel(rest.value.id);
  });
});
