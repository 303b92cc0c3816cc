/**
 * REST and gRPC read routing configs through one service (app/targets.ts): the same config scenario
 * through each door gives the same answer at every step (the config, its version and weights, or the same
 * refusal with the same words), with the three-tier cache in front as api/main.ts serves it. gRPC's
 * ConfigService reads and watches only, so the writes of the scenario (a PUT with a stale, then a fresh
 * If-Match; the target's deletion) go through REST, and both doors are read after each.
 */
// First: zod-openapi must extend zod before any domain schema is built.
import '@hono/zod-openapi';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGrpcServer, type GrpcServer } from '../../api/grpc/server';
import type { RoutingConfig } from '../../proto/gen/llmopt/v1/common';
import { ConfigServiceClient } from '../../proto/gen/llmopt/v1/config';
import { eventually, uniqueName } from '../helpers/env';
import { call, startTestSystem, type TestSystem } from '../helpers/system';
import { arms, md } from '../grpc/helpers';

let sys: TestSystem;
let server: GrpcServer;
let rpc: ConfigServiceClient;
let ingestKey: string;

beforeAll(async () => {
  sys = await startTestSystem({ workers: false, cache: true });
  server = await startGrpcServer(sys.deps, sys.app.security, { host: '127.0.0.1', port: 0, pollMs: 50 });
  rpc = new ConfigServiceClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
  // What applications hold: the ingest role reads configs through either door.
  ingestKey = await sys.keyFor('ingest');
});
afterAll(async () => {
  rpc?.close();
  await server?.stop();
  await sys?.stop();
});

/** What a caller learns from a config read, whichever door it came through. */
type Read =
  | { outcome: 'ok'; version: number; weights: Record<string, number>; reason: string }
  | { outcome: 'not_found' | 'invalid' | `other ${string}`; detail: string };

const restRead = async (target: string, segment?: string): Promise<Read> => {
  const query = segment === undefined ? '' : `?segment=${encodeURIComponent(segment)}`;
  const r = await call(
    sys,
    'GET',
    `/v1/targets/${target}/config${query}`,
    undefined,
    {},
    { auth: ingestKey },
  );
  if (r.status === 200)
    return { outcome: 'ok', version: r.body.version, weights: r.body.weights, reason: r.body.reason };
  const outcome = ({ 404: 'not_found', 400: 'invalid' } as const)[r.status as 404 | 400];
  return { outcome: outcome ?? `other ${r.status}`, detail: r.body.detail };
};

const grpcRead = (target: string, segment?: string) =>
  new Promise<Read>((resolve) => {
    rpc.getRoutingConfig({ target, segment: segment ?? '' }, md(ingestKey), (err, cfg) => {
      if (!err)
        return resolve({ outcome: 'ok', version: cfg.version, weights: cfg.weights, reason: cfg.reason });
      const outcome = (
        { [grpc.status.NOT_FOUND]: 'not_found', [grpc.status.INVALID_ARGUMENT]: 'invalid' } as const
      )[err.code as grpc.status.NOT_FOUND | grpc.status.INVALID_ARGUMENT];
      resolve({ outcome: outcome ?? `other ${grpc.status[err.code]}`, detail: err.details });
    });
  });

/** Both doors' answers to the same read; the test asserts they are equal, then what they are. */
async function readBoth(target: string, segment?: string): Promise<Read> {
  const [rest, viaGrpc] = await Promise.all([restRead(target, segment), grpcRead(target, segment)]);
  // Field paths are named by each wire (`param.target` in REST, `target` in gRPC): compare the outcome.
  if (rest.outcome === 'invalid') expect(viaGrpc.outcome).toBe('invalid');
  else expect(viaGrpc).toEqual(rest);
  return rest;
}

const putConfig = (target: string, etag: string | undefined, weights: Record<string, number>) =>
  call(
    sys,
    'PUT',
    `/v1/targets/${target}/config`,
    { weights, reason: 'parity' },
    etag === undefined ? {} : { 'if-match': etag },
  );

describe('routing config through REST and gRPC', () => {
  it('answers every step of the same scenario alike', async () => {
    const target = uniqueName('parity');
    expect((await call(sys, 'POST', '/v1/targets', { name: target, arms })).status).toBe(201);

    // Read: version 1, the first arm serving everything.
    expect(await readBoth(target)).toMatchObject({ outcome: 'ok', version: 1, weights: { big: 10_000 } });
    expect(await readBoth(target, 'default')).toMatchObject({ outcome: 'ok', version: 1 });

    // Refusals: the same words for an unknown target and an unknown segment; a bad name is invalid in both.
    expect(await readBoth(uniqueName('absent'))).toMatchObject({
      outcome: 'not_found',
      detail: expect.stringMatching(/^target ".*" not found$/),
    });
    expect(await readBoth(target, 'no-such-segment')).toEqual({
      outcome: 'not_found',
      detail: `segment "no-such-segment" of target "${target}" not found`,
    });
    expect((await readBoth('Not_A_Slug!')).outcome).toBe('invalid');

    // Set with If-Match: without one 428, a stale one 412, the fresh one 200; both doors then read it.
    const first = (await call(sys, 'GET', `/v1/targets/${target}/config`)).headers.get('etag')!;
    expect((await putConfig(target, undefined, { big: 9_000, small: 1_000 })).status).toBe(428);
    const second = await putConfig(target, first, { big: 9_000, small: 1_000 });
    expect(second.status).toBe(200);
    const stale = await putConfig(target, first, { big: 5_000, small: 5_000 });
    expect(stale.status).toBe(412);
    expect(stale.headers.get('content-type')).toContain('application/problem+json');
    expect(await readBoth(target)).toEqual({
      outcome: 'ok',
      version: 2,
      weights: { big: 9_000, small: 1_000 },
      reason: 'parity',
    });
    const fresh = await putConfig(target, second.headers.get('etag')!, { big: 5_000, small: 5_000 });
    expect(fresh.status).toBe(200);
    expect(await readBoth(target)).toMatchObject({ outcome: 'ok', version: 3, weights: { big: 5_000 } });

    // Weights naming an arm the target lacks are refused, naming the field, and change nothing.
    const unknownArm = await putConfig(target, fresh.headers.get('etag')!, { big: 5_000, ghost: 5_000 });
    expect(unknownArm.status).toBe(422);
    expect(unknownArm.body.errors).toEqual([{ path: 'weights.ghost', message: 'unknown arm' }]);
    expect(await readBoth(target)).toMatchObject({ outcome: 'ok', version: 3 });

    // History: append-only, newest first; the stale write left no version.
    const history = await call(sys, 'GET', `/v1/targets/${target}/config/history`);
    expect(history.status).toBe(200);
    expect(history.body.items.map((c: { version: number }) => c.version)).toEqual([3, 2, 1]);

    // Deleted: both doors stop serving it at once (the cache drops it), with the same answer.
    expect((await call(sys, 'DELETE', `/v1/targets/${target}`)).status).toBe(204);
    expect(await readBoth(target)).toEqual({ outcome: 'not_found', detail: `target "${target}" not found` });
  });

  it('pushes to a gRPC watcher each version a REST write makes, as REST then reads it', async () => {
    const target = uniqueName('parity-watch');
    expect((await call(sys, 'POST', '/v1/targets', { name: target, arms })).status).toBe(201);
    const stream = rpc.watchRoutingConfig({ target, segment: '' }, md(ingestKey));
    const received: RoutingConfig[] = [];
    stream.on('data', (c: RoutingConfig) => received.push(c));
    stream.on('error', () => undefined); // cancelled below
    try {
      await eventually(async () => received.length >= 1, { what: 'the current version pushed at once' });
      const etag = (await call(sys, 'GET', `/v1/targets/${target}/config`)).headers.get('etag')!;
      expect((await putConfig(target, etag, { big: 2_000, small: 8_000 })).status).toBe(200);
      await eventually(async () => received.length >= 2, { what: 'version 2 pushed' });
      const rest = await restRead(target);
      expect(rest).toMatchObject({ outcome: 'ok', version: received[1]!.version });
      expect(received[1]!.weights).toEqual((rest as { weights: Record<string, number> }).weights);
    } finally {
      stream.cancel();
    }
  });
});
