/**
 * The gRPC API through real @grpc/grpc-js clients generated from proto/: every service, the server
 * streams and the client stream, the same identities and roles as REST (metadata), standard status
 * codes, and grpc.health.v1.
 */
// First: zod-openapi must extend zod before any domain schema is built.
import '@hono/zod-openapi';
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGrpcServer, type GrpcServer } from '../../api/grpc/server';
import { createRolloutsRepo } from '../../adapters/db/repos/rollouts';
import { startIngestFront } from '../../pipeline';
import { HealthCheckResponse_ServingStatus, HealthClient } from '../../proto/gen/grpc/health/v1/health';
import type { RoutingConfig, Decision } from '../../proto/gen/llmopt/v1/common';
import { ConfigServiceClient } from '../../proto/gen/llmopt/v1/config';
import { IngestServiceClient, type IngestResponse } from '../../proto/gen/llmopt/v1/ingest';
import { OptimizationServiceClient } from '../../proto/gen/llmopt/v1/optimization';
import { RolloutServiceClient, type Rollout } from '../../proto/gen/llmopt/v1/rollout';
import { eventually, testEnv, uniqueName } from '../helpers/env';
import { call, startTestSystem, type TestSystem } from '../helpers/system';
import { arms, md, telemetryEvent } from './helpers';

let sys: TestSystem;
let server: GrpcServer;
let ingestStop: () => Promise<void>;
let address: string;
const creds = grpc.credentials.createInsecure();
const clients: grpc.Client[] = [];

/** Promisifies a generated unary method. */
function unary<Req, Res>(client: grpc.Client, method: string, req: Req, key: string | false): Promise<Res> {
  return new Promise((resolve, reject) => {
    (
      client as unknown as Record<
        string,
        (r: Req, m: grpc.Metadata, cb: (e: grpc.ServiceError | null, r: Res) => void) => void
      >
    )[method]!(req, md(key), (err, res) => (err ? reject(err) : resolve(res)));
  });
}

function collect<Res>(
  stream: grpc.ClientReadableStream<Res>,
  until: (items: Res[]) => boolean,
): Promise<Res[]> {
  const items: Res[] = [];
  return new Promise((resolve, reject) => {
    stream.on('data', (d: Res) => {
      items.push(d);
      if (until(items)) {
        stream.cancel();
        resolve(items);
      }
    });
    stream.on('error', (err: grpc.ServiceError) =>
      err.code === grpc.status.CANCELLED ? resolve(items) : reject(err),
    );
    stream.on('end', () => resolve(items));
  });
}

beforeAll(async () => {
  sys = await startTestSystem();
  const ingest = await startIngestFront({ env: testEnv, db: sys.deps.db, logger: sys.deps.logger });
  ingestStop = ingest.stop;
  server = await startGrpcServer({ ...sys.deps, ingest: ingest.front }, sys.app.security, {
    host: '127.0.0.1',
    port: 0,
    pollMs: 100,
  });
  address = `127.0.0.1:${server.port}`;
});
afterAll(async () => {
  for (const c of clients) c.close();
  await server?.stop();
  await ingestStop?.();
  await sys?.stop();
});

const client = <T extends grpc.Client>(
  Ctor: new (address: string, creds: grpc.ChannelCredentials) => T,
): T => {
  const c = new Ctor(address, creds);
  clients.push(c);
  return c;
};

async function newTarget() {
  const name = uniqueName('grpc');
  expect((await call(sys, 'POST', '/v1/targets', { name, arms })).status).toBe(201);
  return name;
}

describe('grpc.health.v1', () => {
  it('answers SERVING for the server and each service, NOT_FOUND for an unknown one, and streams Watch', async () => {
    const health = client(HealthClient);
    for (const service of ['', 'llmopt.v1.ConfigService']) {
      const r = await new Promise<{ status: number }>((res, rej) =>
        health.check({ service }, (e, v) => (e ? rej(e) : res(v))),
      );
      expect(r.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    }
    const unknown = await new Promise<grpc.ServiceError>((res) =>
      health.check({ service: 'nope.Service' }, (e) => res(e!)),
    );
    expect(unknown.code).toBe(grpc.status.NOT_FOUND);
    const watched = await collect(health.watch({ service: '' }), (items) => items.length >= 1);
    expect(watched[0]!.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });
});

describe('authentication and roles over metadata', () => {
  it('answers UNAUTHENTICATED without or with a bad credential, PERMISSION_DENIED without the role', async () => {
    const config = client(ConfigServiceClient);
    const target = await newTarget();
    await expect(unary(config, 'getRoutingConfig', { target, segment: '' }, false)).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
    });
    await expect(
      unary(config, 'getRoutingConfig', { target, segment: '' }, 'llmo_bogus'),
    ).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    const optimizations = client(OptimizationServiceClient);
    const ingestKey = await sys.keyFor('ingest');
    const denied = await unary(
      optimizations,
      'trigger',
      { target, segment: '', idempotency_key: '' },
      ingestKey,
    ).catch((e: grpc.ServiceError) => e);
    expect(denied).toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    expect((denied as grpc.ServiceError).details).toContain('optimizations:trigger');
    // The refusal is in the audit log, as REST records a 403, under the target's REST path.
    const audited = await call(sys, 'GET', `/v1/audit?resource=/v1/targets/${target}&outcome=denied`);
    expect(audited.body.items).toEqual([
      expect.objectContaining({
        action: 'gRPC /llmopt.v1.OptimizationService/Trigger',
        actor_kind: 'api_key',
        roles: ['ingest'],
        status: 403,
      }),
    ]);
    // The ingest role reads configs.
    const cfg = await unary<unknown, RoutingConfig>(
      config,
      'getRoutingConfig',
      { target, segment: '' },
      ingestKey,
    );
    expect(cfg).toMatchObject({ target, segment: 'default', version: 1, weights: { big: 10000 } });
  });

  it('answers INVALID_ARGUMENT naming the field, and NOT_FOUND for an unknown target', async () => {
    const config = client(ConfigServiceClient);
    const bad = await unary(
      config,
      'getRoutingConfig',
      { target: '../etc', segment: '' },
      sys.adminKey,
    ).catch((e: grpc.ServiceError) => e);
    expect(bad).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    expect((bad as grpc.ServiceError).details).toContain('target');
    expect(JSON.parse(String((bad as grpc.ServiceError).metadata.get('x-field-errors')[0]))[0].path).toBe(
      'target',
    );
    await expect(
      unary(config, 'getRoutingConfig', { target: 'no-such-target', segment: '' }, sys.adminKey),
    ).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });
});

describe('ConfigService', () => {
  it('pushes each new routing-config version to a watching application', async () => {
    const target = await newTarget();
    const config = client(ConfigServiceClient);
    const stream = config.watchRoutingConfig({ target, segment: '' }, md(await sys.keyFor('ingest')));
    const received: RoutingConfig[] = [];
    stream.on('data', (c: RoutingConfig) => received.push(c));
    const seen = collect(stream, (items) => items.length >= 2);
    // Write only once the watcher holds version 1, so the push of version 2 is what is observed.
    await eventually(async () => received.length >= 1, { what: 'the current version pushed at once' });
    const etag = (await call(sys, 'GET', `/v1/targets/${target}/config`)).headers.get('etag')!;
    expect(
      (
        await call(
          sys,
          'PUT',
          `/v1/targets/${target}/config`,
          { weights: { big: 5000, small: 5000 } },
          { 'if-match': etag },
        )
      ).status,
    ).toBe(200);
    const items = await seen;
    expect(items.map((c) => c.version)).toEqual([1, 2]);
    expect(items[1]!.weights).toEqual({ big: 5000, small: 5000 });
  });
});

describe('OptimizationService', () => {
  it('triggers a cycle (idempotently), reads and lists it, and streams its decision', async () => {
    const target = await newTarget();
    const optimizations = client(OptimizationServiceClient);
    const watch = optimizations.watchDecisions({ target, replay: 0 }, md(await sys.keyFor('analyst')));
    const decisions = collect<Decision>(watch, (items) => items.length >= 1);
    const key = uniqueName('k');
    const started = await unary<unknown, { id: string; run_id: string }>(
      optimizations,
      'trigger',
      { target, segment: '', idempotency_key: key },
      sys.adminKey,
    );
    const again = await unary<unknown, { id: string; run_id: string }>(
      optimizations,
      'trigger',
      { target, segment: '', idempotency_key: key },
      sys.adminKey,
    );
    expect(again.id).toBe(started.id);
    // Each change through gRPC is audited with the caller, as through REST.
    const audited = await call(sys, 'GET', `/v1/audit?resource=/v1/targets/${target}&outcome=success`);
    expect(audited.body.items.filter((e: { action: string }) => e.action.startsWith('gRPC '))).toEqual([
      expect.objectContaining({ action: 'gRPC /llmopt.v1.OptimizationService/Trigger', roles: ['admin'] }),
      expect.objectContaining({ action: 'gRPC /llmopt.v1.OptimizationService/Trigger', roles: ['admin'] }),
    ]);
    const [decision] = await decisions;
    expect(decision).toMatchObject({ target, kind: 'no_action' });
    const done = await eventually(async () => {
      const o = await unary<unknown, { status: string; decisions: Decision[] }>(
        optimizations,
        'get',
        { id: started.id },
        sys.adminKey,
      );
      return o.status === 'completed' ? o : undefined;
    });
    expect(done.decisions.map((d) => d.id)).toContain(decision!.id);
    const listed = await eventually(async () => {
      const l = await unary<unknown, { items: { id: string }[] }>(
        optimizations,
        'list',
        { target, limit: 10, cursor: '' },
        sys.adminKey,
      );
      return l.items.some((i) => i.id === started.id) ? l : undefined;
    });
    expect(listed.items[0]!.id).toBe(started.id);
    await expect(unary(optimizations, 'get', { id: 'cycle-none-such' }, sys.adminKey)).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
  });
});

describe('RolloutService', () => {
  it('lists, reads and watches a rollout to its end; refuses to steer one that is not running', async () => {
    const target = await newTarget();
    const rollouts = createRolloutsRepo(sys.deps.db);
    const id = `rollout-${target}-${randomUUID()}`;
    await rollouts.create({
      id,
      decision_id: randomUUID(),
      target,
      segment: 'default',
      strategy: 'test',
      canary_arm: 'small',
      baseline_arm: 'big',
      stages: [{ canary_bps: 500, bake_seconds: 60, requires_approval: false }],
      from_version: 1,
    });
    const rc = client(RolloutServiceClient);
    const listed = await unary<unknown, { items: Rollout[] }>(
      rc,
      'list',
      { target, state: '', limit: 10 },
      await sys.keyFor('analyst'),
    );
    expect(listed.items.map((r) => r.id)).toEqual([id]);
    expect((await unary<unknown, Rollout>(rc, 'get', { id }, sys.adminKey)).state).toBe('progressing');

    const watch = rc.watch({ id }, md(sys.adminKey));
    const received: Rollout[] = [];
    watch.on('data', (r: Rollout) => received.push(r));
    const watched = collect<Rollout>(watch, () => false);
    await eventually(async () => received.length >= 1, { what: 'the rollout as it is now' });
    await rollouts.update(id, { state: 'promoted', current_stage: 0 });
    const states = (await watched).map((r) => r.state);
    expect(states.at(-1)).toBe('promoted');

    // No workflow runs behind this row, and the rollout is finished: steering it is refused, not a 5xx.
    for (const method of ['pause', 'resume', 'abort', 'approve']) {
      await expect(unary(rc, method, { id, reason: 'test' }, sys.adminKey), method).rejects.toMatchObject({
        code: grpc.status.FAILED_PRECONDITION,
      });
    }
    await expect(unary(rc, 'pause', { id, reason: '' }, await sys.keyFor('analyst'))).rejects.toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
    });
    await expect(unary(rc, 'get', { id: 'rollout-none' }, sys.adminKey)).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
  });
});

describe('IngestService', () => {
  const event = (target: string) => telemetryEvent(target);

  it('accepts a unary batch and a client stream of batches, naming rejected events', async () => {
    const target = await newTarget();
    const ingest = client(IngestServiceClient);
    const key = await sys.keyFor('ingest');
    const one = await unary<unknown, IngestResponse>(
      ingest,
      'ingestBatch',
      { events: [event(target), { ...event(target), latency_ms: 'slow' }] },
      key,
    );
    expect(one.accepted).toBe(1);
    expect(one.rejected).toBe(1);
    expect(one.errors[0]!.index).toBe(1);
    expect(one.errors[0]!.errors.join(' ')).toContain('latency_ms');

    const streamed = await new Promise<IngestResponse>((resolve, reject) => {
      const s = ingest.ingestStream(md(key), (err, res) => (err ? reject(err) : resolve(res)));
      s.write({ events: [event(target), event(target)] });
      s.write({ events: [event(target)] });
      s.end();
    });
    expect(streamed).toMatchObject({ accepted: 3, rejected: 0 });
    // A batch of only invalid events is refused as a whole, as REST refuses it with 422.
    const refused = await unary(
      ingest,
      'ingestBatch',
      { events: [{ ...event(target), latency_ms: 'slow' }] },
      key,
    ).then(
      () => null,
      (err: grpc.ServiceError) => err,
    );
    expect(refused?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(refused?.details).toContain('latency_ms');
    expect(JSON.parse(String(refused?.metadata.get('x-field-errors')[0]))).toEqual([
      expect.objectContaining({ path: '[0].latency_ms' }),
    ]);
    await expect(
      unary(ingest, 'ingestBatch', { events: [event(target)] }, await sys.keyFor('analyst')),
    ).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
  });
});
