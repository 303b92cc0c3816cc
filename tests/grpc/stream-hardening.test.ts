/**
 * The gRPC streams against abuse, each finding of the security probe reproduced first: an
 * unauthenticated IngestStream refused before its messages are read, watches ended when their key is
 * revoked or their token expires, stream limits answered RESOURCE_EXHAUSTED naming the variable, health
 * watchers sharing one readiness check, and authentication failures rate-limited per address. A real
 * server on a real port, over the real PostgreSQL and Redis.
 */
// First: zod-openapi must extend zod before any domain schema is built.
import '@hono/zod-openapi';
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { startGrpcServer, type GrpcServer } from '../../api/grpc/server';
import type { ApiDeps } from '../../api/lib/types';
import { createMemoryRateLimiter } from '../../api/middleware/rate-limit';
import type { Env } from '../../platform/env';
import { startIngestFront } from '../../pipeline';
import type { ReadinessCheck } from '../../platform/process';
import { HealthCheckResponse_ServingStatus, HealthClient } from '../../proto/gen/grpc/health/v1/health';
import type { RoutingConfig } from '../../proto/gen/llmopt/v1/common';
import { ConfigServiceClient } from '../../proto/gen/llmopt/v1/config';
import {
  IngestServiceClient,
  type IngestBatchRequest,
  type IngestResponse,
} from '../../proto/gen/llmopt/v1/ingest';
import { eventually, testEnv, uniqueName } from '../helpers/env';
import { call, startTestSystem, type TestSystem } from '../helpers/system';
import { arms, md, telemetryEvent } from './helpers';

const SECRET = 'a-test-secret-of-at-least-32-characters!';
const ISSUER = 'https://issuer.test';
const AUDIENCE = 'llm-auto-optimizer';

const LIMITS = {
  GRPC_MAX_STREAMS_PER_CONNECTION: 3,
  GRPC_MAX_STREAMS_PER_IDENTITY: 4,
  GRPC_INGEST_STREAM_MAX_MESSAGES: 3,
  GRPC_INGEST_STREAM_MAX_BYTES: 200_000,
  GRPC_HEALTH_MAX_WATCHERS: 5,
} satisfies Partial<Env>;

let sys: TestSystem;
let app: ReturnType<typeof createApp>;
let deps: ApiDeps;
let ingestStop: () => Promise<void>;
const sysKey = { analyst: '', ingest: '' };
const servers: GrpcServer[] = [];
const clients: grpc.Client[] = [];

beforeAll(async () => {
  // The cache brings the invalidation bus that carries revocations, as in production.
  sys = await startTestSystem({ workers: false, cache: true });
  const env: Env = {
    ...testEnv,
    ...LIMITS,
    AUTH_JWT_HS256_SECRET: SECRET,
    AUTH_JWT_ISSUER: ISSUER,
    AUTH_JWT_AUDIENCE: AUDIENCE,
    AUTH_JWT_CLOCK_TOLERANCE_S: 0,
  };
  const ingest = await startIngestFront({ env, db: sys.deps.db, logger: sys.deps.logger });
  ingestStop = ingest.stop;
  deps = { ...sys.deps, env, ingest: ingest.front };
  app = createApp(deps);
  sysKey.analyst = await sys.keyFor('analyst');
  sysKey.ingest = await sys.keyFor('ingest');
});
afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.stop();
  await ingestStop?.();
  await sys?.stop();
});

/**
 * A gRPC server over `app`'s security with its own in-memory rate limiter: the per-address buckets of
 * 127.0.0.1 are then this server's alone, whatever other test files spend in the shared Redis.
 */
async function serve(overrides: Partial<ApiDeps> = {}): Promise<{ address: string; deps: ApiDeps }> {
  const d = { ...deps, ...overrides };
  const server = await startGrpcServer(
    d,
    { ...app.security, limiter: createMemoryRateLimiter() },
    { host: '127.0.0.1', port: 0, pollMs: 100 },
  );
  servers.push(server);
  return { address: `127.0.0.1:${server.port}`, deps: d };
}

/** A client on a connection of its own (grpc-js otherwise shares one connection per address). */
function client<T extends grpc.Client>(
  Ctor: new (address: string, creds: grpc.ChannelCredentials, options: grpc.ChannelOptions) => T,
  address: string,
): T {
  const c = new Ctor(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  clients.push(c);
  return c;
}

/** A server stream's messages as they come, and how it ended. */
function watch<T>(stream: grpc.ClientReadableStream<T>) {
  const received: T[] = [];
  stream.on('data', (d: T) => received.push(d));
  const ended = new Promise<grpc.ServiceError | undefined>((resolve) => {
    stream.on('error', (err: grpc.ServiceError) => resolve(err));
    stream.on('end', () => resolve(undefined));
  });
  return { received, ended, stream };
}

async function newTarget() {
  const name = uniqueName('grpc-hard');
  expect((await call(sys, 'POST', '/v1/targets', { name, arms })).status).toBe(201);
  return name;
}
async function newConfigVersion(target: string, weights: Record<string, number>) {
  const etag = (await call(sys, 'GET', `/v1/targets/${target}/config`)).headers.get('etag')!;
  const put = await call(sys, 'PUT', `/v1/targets/${target}/config`, { weights }, { 'if-match': etag });
  expect(put.status).toBe(200);
}

/** A counter's value for `reason` in the server's /metrics registry (0 before its first count). */
async function metric(d: ApiDeps, name: string, reason: string): Promise<number> {
  if (!d.metrics.registry.getSingleMetric(name)) return 0;
  const m = (await d.metrics.registry.getSingleMetricAsString(name))
    .split('\n')
    .find((l) => l.startsWith(`${name}{`) && l.includes(`reason="${reason}"`));
  return m ? Number(m.split(' ').at(-1)) : 0;
}

/** How a stream ended, awaited with a deadline. */
async function endedWithin<T>(ended: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let result: { value: T } | undefined;
  void ended.then((value) => (result = { value }));
  return (await eventually(async () => result, { timeoutMs, what })).value;
}

describe('IngestStream authenticates before it reads', () => {
  it('refuses 100 messages of 2 MiB without credentials at once, having read at most one of them', async () => {
    const { address, deps: d } = await serve();
    const before = await metric(d, 'llmopt_grpc_auth_failures_total', 'missing_credentials');
    const ingest = client(IngestServiceClient, address);
    const big = { events: [{ type: 'llm.request', padding: 'x'.repeat(2 * 1024 * 1024) }] };
    let flushed = 0;
    const err = await new Promise<grpc.ServiceError>((resolve, reject) => {
      const s = ingest.ingestStream(md(false), (e) => (e ? resolve(e) : reject(new Error('accepted'))));
      s.on('error', () => undefined);
      for (let i = 0; i < 100; i++) s.write(big, () => flushed++);
      s.end();
    });
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    // HTTP/2 flow control lets the client hand over no more than the server reads: the refusal came
    // before the server asked for a message, so at most part of the first one left the client.
    expect(flushed).toBeLessThanOrEqual(1);
    expect(await metric(d, 'llmopt_grpc_auth_failures_total', 'missing_credentials')).toBe(before + 1);
  });

  it('refuses a role without events:ingest with PERMISSION_DENIED before reading', async () => {
    const { address } = await serve();
    const ingest = client(IngestServiceClient, address);
    const err = await new Promise<grpc.ServiceError>((resolve, reject) => {
      const s = ingest.ingestStream(md(sysKey.analyst), (e) =>
        e ? resolve(e) : reject(new Error('accepted')),
      );
      s.on('error', () => undefined);
      s.write({ events: [] });
    });
    expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err.details).toContain('events:ingest');
  });

  it('ingests message by message and ends a stream past its message or byte limit, saying what was accepted', async () => {
    const { address, deps: d } = await serve();
    const target = await newTarget();
    const ingest = client(IngestServiceClient, address);
    const send = (messages: IngestBatchRequest[]) =>
      new Promise<IngestResponse | grpc.ServiceError>((resolve) => {
        const s = ingest.ingestStream(md(sysKey.ingest), (e, r) => resolve(e ?? r));
        s.on('error', () => undefined);
        for (const m of messages) s.write(m);
        s.end();
      });
    const within = await send([
      { events: [telemetryEvent(target)] },
      { events: [telemetryEvent(target), telemetryEvent(target)] },
    ]);
    expect(within).toMatchObject({ accepted: 3, rejected: 0 });

    const messagesBefore = await metric(d, 'llmopt_grpc_streams_ended_total', 'message_limit');
    const tooMany = (await send(
      Array.from({ length: 5 }, () => ({ events: [telemetryEvent(target)] })),
    )) as grpc.ServiceError;
    expect(tooMany.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(tooMany.details).toContain('GRPC_INGEST_STREAM_MAX_MESSAGES');
    expect(tooMany.details).toContain('3 events accepted');
    expect(tooMany.metadata.get('x-ingested-messages')).toEqual(['3']);
    expect(await metric(d, 'llmopt_grpc_streams_ended_total', 'message_limit')).toBe(messagesBefore + 1);

    // About 80 kB a message: the third passes the 200,000-byte bound.
    const heavy = () => ({ events: [telemetryEvent(target, { padding: 'y'.repeat(80_000) })] });
    const tooBig = (await send([heavy(), heavy(), heavy()])) as grpc.ServiceError;
    expect(tooBig.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(tooBig.details).toContain('GRPC_INGEST_STREAM_MAX_BYTES');
    expect(tooBig.details).toContain('the first 2 messages');
  });
});

describe('watches end with their credential', () => {
  it('ends a WatchRoutingConfig UNAUTHENTICATED when its API key is revoked, delivering no later version', async () => {
    const { address, deps: d } = await serve();
    const target = await newTarget();
    const created = await call(sys, 'POST', '/v1/api-keys', { name: 'watcher', roles: ['ingest'] });
    expect(created.status).toBe(201);
    const w = watch<RoutingConfig>(
      client(ConfigServiceClient, address).watchRoutingConfig({ target, segment: '' }, md(created.body.key)),
    );
    await eventually(async () => w.received.length >= 1, { what: 'version 1 pushed' });
    const before = await metric(d, 'llmopt_grpc_streams_ended_total', 'credential_revoked');

    // Revoked through the same API process the stream is served by.
    const revoked = await call(
      { app },
      'DELETE',
      `/v1/api-keys/${created.body.id}`,
      undefined,
      {},
      { auth: sys.adminKey },
    );
    expect(revoked.status).toBe(200);
    await newConfigVersion(target, { big: 5000, small: 5000 });
    const err = await endedWithin(w.ended, 5_000, 'the stream to end after the revocation');
    expect(err?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(err?.details).toMatch(/revoked/);
    expect(w.received.map((c) => c.version)).toEqual([1]);
    expect(await metric(d, 'llmopt_grpc_streams_ended_total', 'credential_revoked')).toBe(before + 1);
  });

  it('ends an idle watch when its key is revoked on another API process (through the invalidation bus)', async () => {
    const { address } = await serve();
    const target = await newTarget();
    const created = await call(sys, 'POST', '/v1/api-keys', { name: 'idle watcher', roles: ['ingest'] });
    const w = watch<RoutingConfig>(
      client(ConfigServiceClient, address).watchRoutingConfig({ target, segment: '' }, md(created.body.key)),
    );
    await eventually(async () => w.received.length >= 1, { what: 'version 1 pushed' });
    // sys.app is another replica: its revocation reaches this server's authenticator through Redis.
    expect((await call(sys, 'DELETE', `/v1/api-keys/${created.body.id}`)).status).toBe(200);
    const err = await endedWithin(w.ended, 5_000, 'the stream to end after the revocation');
    expect(err?.code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('ends a watch UNAUTHENTICATED once its JWT expires', async () => {
    const { address, deps: d } = await serve();
    const target = await newTarget();
    const exp = Math.floor(Date.now() / 1000) + 3;
    const token = await new SignJWT({ roles: ['analyst'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(`watcher-${randomUUID()}`)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime(exp)
      .sign(new TextEncoder().encode(SECRET));
    const before = await metric(d, 'llmopt_grpc_streams_ended_total', 'credential_expired');
    const w = watch<RoutingConfig>(
      client(ConfigServiceClient, address).watchRoutingConfig({ target, segment: '' }, md(token)),
    );
    await eventually(async () => w.received.length >= 1, { what: 'version 1 pushed' });
    const err = await endedWithin(w.ended, 8_000, 'the stream to end after exp');
    expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000);
    expect(err?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(err?.details).toMatch(/expired/);
    expect(await metric(d, 'llmopt_grpc_streams_ended_total', 'credential_expired')).toBe(before + 1);
  });
});

describe('stream limits', () => {
  const open = (c: ConfigServiceClient, target: string, key: string) =>
    watch<RoutingConfig>(c.watchRoutingConfig({ target, segment: '' }, md(key)));

  it('refuses a stream past the per-connection limit with RESOURCE_EXHAUSTED, and takes one once a place frees', async () => {
    const { address } = await serve();
    const target = await newTarget();
    const key = await sys.keyFor('ingest');
    const c = client(ConfigServiceClient, address);
    const held = [open(c, target, key), open(c, target, key), open(c, target, key)];
    await eventually(async () => held.every((w) => w.received.length >= 1), { what: 'three watches open' });
    const refused = await open(c, target, key).ended;
    expect(refused?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(refused?.details).toContain('GRPC_MAX_STREAMS_PER_CONNECTION');
    // A unary call still fits beside the full set of streams.
    await new Promise<void>((resolve, reject) =>
      c.getRoutingConfig({ target, segment: '' }, md(key), (e) => (e ? reject(e) : resolve())),
    );
    held[0]!.stream.cancel();
    await eventually(
      async () => {
        const w = open(c, target, key);
        const first = await Promise.race([
          eventually(async () => w.received.length >= 1, { timeoutMs: 2_000 }).then(() => 'open' as const),
          w.ended,
        ]);
        if (first === 'open') w.stream.cancel();
        return first === 'open';
      },
      { what: 'a new watch once one was cancelled' },
    );
  });

  it('refuses a stream past the per-identity limit across connections', async () => {
    const { address } = await serve();
    const target = await newTarget();
    const key = await sys.keyFor('ingest');
    const [a, b, c] = [1, 2, 3].map(() => client(ConfigServiceClient, address));
    const held = [open(a!, target, key), open(a!, target, key), open(b!, target, key), open(b!, target, key)];
    await eventually(async () => held.every((w) => w.received.length >= 1), { what: 'four watches open' });
    const refused = await open(c!, target, key).ended;
    expect(refused?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(refused?.details).toContain('GRPC_MAX_STREAMS_PER_IDENTITY');
    // Another identity is not held back by this one's streams.
    const other = open(c!, target, await sys.keyFor('ingest'));
    await eventually(async () => other.received.length >= 1, { what: "another identity's watch" });
    for (const w of [...held, other]) w.stream.cancel();
  });
});

describe('grpc.health.v1 Watch', () => {
  it('runs one readiness check per interval for all watchers, and bounds the watchers', async () => {
    let checks = 0;
    const counted: ReadinessCheck = { name: 'counted', check: async () => void checks++ };
    const { address } = await serve({ checks: [counted] });
    // Each watcher on its own connection, so only the watcher bound applies.
    const watchers = Array.from({ length: 5 }, () =>
      watch(client(HealthClient, address).watch({ service: '' })),
    );
    await eventually(async () => watchers.every((w) => w.received.length >= 1), {
      what: 'five watchers served',
    });
    for (const w of watchers)
      expect(w.received[0]).toEqual({ status: HealthCheckResponse_ServingStatus.SERVING });
    // One watcher per check would be at least five; shared, it is the first check and the intervals since.
    expect(checks).toBeLessThan(5);
    const refused = await watch(client(HealthClient, address).watch({ service: '' })).ended;
    expect(refused?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(refused?.details).toContain('GRPC_HEALTH_MAX_WATCHERS');
    const seen = checks;
    await eventually(async () => checks >= seen + 2, { what: 'two more intervals' });
    for (const w of watchers) w.stream.cancel();
  });
});

describe('authentication failures', () => {
  it('are rate-limited per address (the anonymous allowance) and counted', async () => {
    const { address, deps: d } = await serve({
      env: { ...deps.env, API_RATE_LIMIT_ANONYMOUS_PER_MINUTE: 3 },
    });
    const c = client(ConfigServiceClient, address);
    const attempt = () =>
      new Promise<grpc.ServiceError>((resolve) =>
        c.getRoutingConfig({ target: 'x', segment: '' }, md('llmo_bogus'), (e) => resolve(e!)),
      );
    const before = await metric(d, 'llmopt_grpc_auth_failures_total', 'rate_limited');
    const codes = [];
    for (let i = 0; i < 5; i++) codes.push((await attempt()).code);
    expect(codes.slice(0, 3)).toEqual(Array(3).fill(grpc.status.UNAUTHENTICATED));
    const limited = await attempt();
    expect(limited.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(limited.details).toContain('API_RATE_LIMIT_ANONYMOUS_PER_MINUTE');
    expect(Number(limited.metadata.get('retry-after')[0])).toBeGreaterThan(0);
    expect(await metric(d, 'llmopt_grpc_auth_failures_total', 'rate_limited')).toBeGreaterThan(before);
    // A valid credential from the same address is not held back.
    const key = await sys.keyFor('ingest');
    const target = await newTarget();
    await new Promise<void>((resolve, reject) =>
      c.getRoutingConfig({ target, segment: '' }, md(key), (e) => (e ? reject(e) : resolve())),
    );
  });
});
