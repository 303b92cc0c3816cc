/**
 * What a security probe of the API found, each reproduced here: worker settings that let revocations
 * diverge, a numeric query that overflowed into a 500, Slack roles read through Object.prototype, JWTs
 * with a non-string subject, a revocation racing a cache fill, guessed API-key prefixes costing a query
 * each and evicting real keys, X-Forwarded-For read from the caller's end, one anonymous allowance shared
 * by the signed inbound routes, and Idempotency-Key claims stuck after their owner died.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { createAuthenticator } from '../../api/middleware/auth';
import { requestFingerprint } from '../../api/middleware/idempotency';
import { slackRole } from '../../api/routes/slack/slack.handlers';
import { API_KEY_PATTERN, createApiKeysRepo, type ApiKeysRepo } from '../../adapters/db/repos/api-keys';
import { createIdempotencyRepo } from '../../adapters/db/repos/idempotency';
import { ConfigError, parseEnv } from '../../platform/env';
import { holdTestLock, testEnv, uniqueName } from '../helpers/env';
import { spawnEntrypoint } from '../helpers/process';
import { llmRequest } from '../integration/data-plane/fixtures';
import { call, startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ workers: false });
});
afterAll(async () => {
  await sys?.stop();
});

const randomKey = () => `llmo_${randomBytes(6).toString('hex')}_${randomBytes(32).toString('base64url')}`;

describe('API_WORKERS without REDIS_URL', () => {
  it('is refused with a message naming both variables; one worker needs no Redis', () => {
    let error: unknown;
    try {
      parseEnv({ API_WORKERS: '2' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(String(error)).toMatch(/API_WORKERS: .*REDIS_URL/);
    // `npm start` sets neither; a deployment with Redis may run many workers.
    expect(parseEnv({}).API_WORKERS).toBe(1);
    expect(parseEnv({ API_WORKERS: '4', REDIS_URL: 'redis://127.0.0.1:6379' }).API_WORKERS).toBe(4);
  });

  it('stops the API process at start with exit code 78', async () => {
    const p = spawnEntrypoint('api/main.ts', { API_WORKERS: '2', DATABASE_URL: testEnv.DATABASE_URL });
    const { code } = await p.exited;
    expect(code).toBe(78);
    expect(p.output()).toMatch(/API_WORKERS/);
    expect(p.output()).toMatch(/REDIS_URL/);
  });
});

describe('numeric query parameters', () => {
  const huge = '9'.repeat(400);

  it('answers a step of 400 digits, or wider than ten years, with 422 naming query.step', async () => {
    for (const step of [huge, `${huge}ms`, '3661d']) {
      const r = await call(sys, 'GET', `/v1/targets/any/metrics?step=${step}`);
      expect(r.status, step).toBe(422);
      expect(r.body.errors[0].path, step).toBe('query.step');
    }
  });

  it('answers it with 422 over stored windows too, where the bucket arithmetic met Infinity (500)', async () => {
    const withData = await startTestSystem({
      workers: false,
      ingest: {
        name: uniqueName('probe-metrics'),
        env: { DATA_DIR: mkdtempSync(join(tmpdir(), 'llmopt-probe-')), INGEST_FLUSH_INTERVAL_MS: 100 },
      },
    });
    try {
      const target = uniqueName('probe-step');
      const at = Date.now() - 60_000;
      const events = [0, 1, 2].map((n) => llmRequest(target, n, at + n));
      expect((await call(withData, 'POST', '/v1/events', events)).status).toBe(202);
      await withData.ingest!.pipeline.drain();
      const from = new Date(at - 3_600_000).toISOString();
      const ok = await call(withData, 'GET', `/v1/targets/${target}/metrics?from=${from}&step=1h`);
      expect(ok.body.series[0].points[0].count).toBe(3);
      const r = await call(withData, 'GET', `/v1/targets/${target}/metrics?from=${from}&step=${huge}`);
      expect(r.status).toBe(422);
      expect(r.body.errors[0].path).toBe('query.step');
    } finally {
      await withData.stop();
    }
  });

  it('answers a range of millennia with 422 naming query.from instead of walking it hour by hour', async () => {
    const r = await call(
      sys,
      'GET',
      '/v1/targets/any/metrics?from=0001-01-01T00:00:00Z&to=9999-01-01T00:00:00Z&step=3000d',
    );
    expect(r.status).toBe(422);
    expect(r.body.errors[0].path).toBe('query.from');
  });

  it('answers every other numeric parameter of 400 digits with a 4xx naming it', async () => {
    for (const [path, field] of [
      [`/v1/targets?limit=${huge}`, 'query.limit'],
      [`/v1/audit?limit=${huge}`, 'query.limit'],
      [`/v1/decisions?limit=${huge}`, 'query.limit'],
      [`/v1/rollouts?limit=${huge}`, 'query.limit'],
      [`/v1/api-keys?limit=${huge}`, 'query.limit'],
      [`/v1/webhooks?limit=${huge}`, 'query.limit'],
      [`/v1/targets/any/config/versions/${huge}`, 'param.version'],
    ] as const) {
      const r = await call(sys, 'GET', path);
      expect(r.status, path).toBeGreaterThanOrEqual(400);
      expect(r.status, path).toBeLessThan(500);
      expect(r.body.errors?.[0]?.path, path).toBe(field);
    }
  });
});

describe('JWT subject', () => {
  it('refuses a token whose sub is not a string with 401 naming the claim', async () => {
    const secret = 'a-test-only-hs256-secret-of-at-least-32-characters';
    const app = createApp({
      ...sys.deps,
      env: {
        ...testEnv,
        AUTH_JWT_HS256_SECRET: secret,
        AUTH_JWT_ISSUER: 'https://issuer.test',
        AUTH_JWT_AUDIENCE: 'llmopt',
      },
    });
    const sign = (sub: unknown) =>
      new SignJWT({ sub: sub as string, roles: ['admin'] })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer('https://issuer.test')
        .setAudience('llmopt')
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(secret));
    for (const sub of [42, { id: 'x' }, ['a'], true, '']) {
      const r = await call({ app }, 'GET', '/v1/targets', undefined, {}, { auth: await sign(sub) });
      expect(r.status, JSON.stringify(sub)).toBe(401);
      expect(r.body.detail, JSON.stringify(sub)).toMatch(/"sub"/);
    }
    expect(
      (await call({ app }, 'GET', '/v1/targets', undefined, {}, { auth: await sign('alice') })).status,
    ).toBe(200);
  });
});

/** The real repository, with its prefix lookups counted and, for one prefix, held until released. */
function instrumented(repo: ApiKeysRepo) {
  let gated: { prefix: string; reached: () => void; release: Promise<void> } | undefined;
  const counter = { lookups: 0 };
  const wrapped: ApiKeysRepo = {
    ...repo,
    async findByPrefix(prefix) {
      counter.lookups++;
      const found = await repo.findByPrefix(prefix);
      if (gated?.prefix === prefix) {
        gated.reached();
        await gated.release;
      }
      return found;
    },
  };
  return {
    repo: wrapped,
    counter,
    /** The next lookup of `prefix` reads the row, then waits for the returned release(). */
    hold(prefix: string) {
      let release!: () => void;
      let reached!: () => void;
      const wasReached = new Promise<void>((r) => (reached = r));
      gated = { prefix, reached, release: new Promise<void>((r) => (release = r)) };
      return { reached: wasReached, release };
    },
  };
}

describe('API-key cache', () => {
  it('does not serve or keep a key as valid when it is revoked while its lookup is in flight', async () => {
    const keys = instrumented(createApiKeysRepo(sys.deps.db));
    const app = createApp({ ...sys.deps, security: { apiKeys: keys.repo } });
    const admin = { auth: sys.adminKey };
    const created = await call(
      { app },
      'POST',
      '/v1/api-keys',
      { name: uniqueName('race'), roles: ['analyst'] },
      {},
      admin,
    );
    expect(created.status).toBe(201);
    const { key, id, prefix } = created.body;
    const held = keys.hold(prefix);
    const first = call({ app }, 'GET', '/v1/targets?limit=1', undefined, {}, { auth: key });
    await held.reached; // the row was read while the key was still valid
    expect((await call({ app }, 'DELETE', `/v1/api-keys/${id}`, undefined, {}, admin)).status).toBe(200);
    held.release();
    // The lookup is read again once the revocation is known, so even the request in flight is refused.
    expect((await first).status).toBe(401);
    const after = await call({ app }, 'GET', '/v1/targets?limit=1', undefined, {}, { auth: key });
    expect(after.status).toBe(401);
    expect(after.body.detail).toMatch(/revoked/);
  });

  it('rate-limits unknown prefixes per peer before they cost a query', async () => {
    const keys = instrumented(createApiKeysRepo(sys.deps.db));
    const app = createApp({
      ...sys.deps,
      env: { ...testEnv, API_RATE_LIMIT_ANONYMOUS_PER_MINUTE: 5 },
      security: { apiKeys: keys.repo },
    });
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++)
      statuses.push((await call({ app }, 'GET', '/v1/targets', undefined, {}, { auth: randomKey() })).status);
    expect(keys.counter.lookups).toBe(5);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(new Set(statuses.slice(5))).toEqual(new Set([429]));
  });

  it('keeps verified keys cached however many unknown prefixes are tried', async () => {
    const keys = instrumented(createApiKeysRepo(sys.deps.db));
    const auth = createAuthenticator({
      env: testEnv,
      apiKeys: keys.repo,
      logger: sys.deps.logger,
      maxCachedKeys: 8,
    });
    const real = { authorization: `Bearer ${sys.adminKey}` };
    expect((await auth.authenticate(real))?.roles).toEqual(['admin']);
    for (let i = 0; i < 40; i++)
      await expect(auth.authenticate({ apiKey: randomKey() })).rejects.toThrow(/not valid/);
    // Still verified, answered from memory: no query.
    const before = keys.counter.lookups;
    expect(auth.known(real)?.roles).toEqual(['admin']);
    expect((await auth.authenticate(real))?.roles).toEqual(['admin']);
    expect(keys.counter.lookups).toBe(before);
    // A prefix found absent is remembered too, on its own.
    const unknown = randomKey();
    await expect(auth.authenticate({ apiKey: unknown })).rejects.toThrow(/not valid/);
    await expect(auth.authenticate({ apiKey: unknown })).rejects.toThrow(/not valid/);
    expect(keys.counter.lookups).toBe(before + 1);
  });
});

describe('X-Forwarded-For behind trusted proxies', () => {
  const anonymous = (app: TestSystem['app'], forwardedFor: string) =>
    call({ app }, 'GET', '/v1/targets', undefined, { 'x-forwarded-for': forwardedFor }, { auth: false });

  it('takes the address the trusted proxy appended, whatever the caller put before it', async () => {
    const app = createApp({
      ...sys.deps,
      env: { ...testEnv, API_TRUST_PROXY: 1, API_RATE_LIMIT_ANONYMOUS_PER_MINUTE: 2 },
    });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await anonymous(app, `10.9.9.${i}, 203.0.113.7`)).status);
    expect(statuses).toEqual([401, 401, 429]);
    // Another client behind the same proxy has its own allowance.
    expect((await anonymous(app, '203.0.113.8')).status).toBe(401);
  });

  it('counts the configured hops from the right', async () => {
    const app = createApp({
      ...sys.deps,
      env: { ...testEnv, API_TRUST_PROXY: 2, API_RATE_LIMIT_ANONYMOUS_PER_MINUTE: 2 },
    });
    const statuses = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await anonymous(app, `spoofed-${i}, 198.51.100.9, 10.0.0.${i}`)).status);
    expect(statuses).toEqual([401, 401, 429]);
    expect(parseEnv({ API_TRUST_PROXY: 'true' }).API_TRUST_PROXY).toBe(1);
    expect(parseEnv({ API_TRUST_PROXY: 'false' }).API_TRUST_PROXY).toBe(0);
    expect(parseEnv({ API_TRUST_PROXY: '3' }).API_TRUST_PROXY).toBe(3);
    expect(() => parseEnv({ API_TRUST_PROXY: 'maybe' })).toThrow(/API_TRUST_PROXY/);
  });
});

describe('signed inbound routes', () => {
  const SIGNING_SECRET = 'probe-test-slack-signing-secret';
  let release: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    // The Slack settings row is one for the whole database: files that change it take turns.
    release = await holdTestLock('integration-settings');
    const put = await call(sys, 'PUT', '/v1/integrations/slack', {
      settings: { user_roles: { U0OPERATOR: 'operator' } },
      secrets: { signing_secret: SIGNING_SECRET },
    });
    expect(put.status).toBe(200);
  }, 900_000);
  afterAll(async () => {
    await call(sys, 'DELETE', '/v1/integrations/slack');
    await release?.();
  });

  function slack(app: TestSystem['app'], text: string, user: string, signed = true) {
    const body = new URLSearchParams({ command: '/llmopt', text, user_id: user }).toString();
    const ts = String(Math.floor(Date.now() / 1000));
    const signature = `v0=${createHmac('sha256', SIGNING_SECRET).update(`v0:${ts}:${body}`).digest('hex')}`;
    return app.request('/v1/slack/commands', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-slack-request-timestamp': ts,
        'x-slack-signature': signed ? signature : 'v0=00',
      },
      body,
    });
  }

  it('gives no role to Slack users named like Object.prototype members', async () => {
    for (const user of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
      expect(slackRole({}, user), user).toBeUndefined();
      const r = await slack(sys.app, 'status rollout-none-d1', user);
      expect(r.status, user).toBe(200);
      expect(((await r.json()) as { text: string }).text, user).toMatch(/no role/);
    }
    // A mapped user still gets through to the rollout lookup.
    const mapped = await slack(sys.app, 'status rollout-none-d1', 'U0OPERATOR');
    expect(((await mapped.json()) as { text: string }).text).toMatch(/rollout "rollout-none-d1" not found/);
  });

  it('keeps a flood of unsigned Slack requests from spending the allowance of GitHub deliveries, and counts them', async () => {
    const app = createApp({ ...sys.deps, env: { ...testEnv, API_RATE_LIMIT_ANONYMOUS_PER_MINUTE: 3 } });
    const failures = async () => {
      const metric = await sys.deps.metrics.registry
        .getSingleMetric('llmopt_inbound_signature_failures_total')
        ?.get();
      return metric?.values.find((v) => v.labels.source === 'slack')?.value ?? 0;
    };
    const before = await failures();
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await slack(app, 'status x', 'U0OPERATOR', false)).status);
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    expect(await failures()).toBe(before + 3);
    const github = await app.request('/v1/github/webhooks', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-github-event': 'ping' },
      body: '{}',
    });
    expect(github.status).not.toBe(429);
    expect((await call({ app }, 'GET', '/v1/targets', undefined, {}, { auth: false })).status).toBe(401);
  });
});

describe('Idempotency-Key claims', () => {
  const arms = [{ id: 'a', provider: 'openai', model: 'gpt-4o' }];

  it('lets a repeat take over a claim whose owner died, once the request timeout has passed', async () => {
    const admin = `key:${API_KEY_PATTERN.exec(sys.adminKey)![1]}`;
    const repo = createIdempotencyRepo(sys.deps.db);
    const body = JSON.stringify({ name: uniqueName('idem-crash'), arms });
    const claim = async (key: string) =>
      repo.claim({
        identity: admin,
        key,
        method: 'POST',
        path: '/v1/targets',
        fingerprint: requestFingerprint('POST', '/v1/targets', body),
        ttlSeconds: 86_400,
      });
    // A process claimed the key and died before answering; its timeout and margin have passed since.
    const dead = uniqueName('dead-owner');
    expect((await claim(dead)).kind).toBe('claimed');
    await sys.deps.db.query(
      `UPDATE idempotency_keys SET created_at = now() - make_interval(secs => $2) WHERE key = $1`,
      [dead, testEnv.API_REQUEST_TIMEOUT_MS / 1000 + 11],
    );
    const retried = await call(sys, 'POST', '/v1/targets', body, {
      'idempotency-key': dead,
      'content-type': 'application/json',
    });
    expect(retried.status).toBe(201);
    const replayed = await call(sys, 'POST', '/v1/targets', body, {
      'idempotency-key': dead,
      'content-type': 'application/json',
    });
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');

    // A claim within its lease is still running as far as anyone can tell.
    const alive = uniqueName('live-owner');
    expect((await claim(alive)).kind).toBe('claimed');
    const waiting = await call(sys, 'POST', '/v1/targets', body, {
      'idempotency-key': alive,
      'content-type': 'application/json',
    });
    expect(waiting.status).toBe(409);
  });
});
