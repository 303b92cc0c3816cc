/**
 * Authentication edge cases: JWTs (HS256 with a shared secret; RS256 and ES256 from a JWKS served on
 * loopback) and API keys through their whole life (shown once, hashed at rest, last-used time, revoked).
 * No credential ever appears in a log line or an error body.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { API_KEY_PATTERN } from '../../adapters/db/repos/api-keys';
import { REDACT_PATHS } from '../../platform/logger';
import { eventually, testEnv, uniqueName } from '../helpers/env';
import { call, startTestSystem, type TestSystem } from '../helpers/system';

const SECRET = 'a-test-only-hs256-secret-of-at-least-32-characters';
const ISSUER = 'https://issuer.test';
const AUDIENCE = 'llm-auto-optimizer';

let sys: TestSystem;
let app: ReturnType<typeof createApp>;
let jwks: Server;
const logLines: string[] = [];
let rsa: Awaited<ReturnType<typeof generateKeyPair>>;
let ec: Awaited<ReturnType<typeof generateKeyPair>>;
let stranger: Awaited<ReturnType<typeof generateKeyPair>>;

beforeAll(async () => {
  sys = await startTestSystem({ workers: false });
  rsa = await generateKeyPair('RS256');
  ec = await generateKeyPair('ES256');
  stranger = await generateKeyPair('RS256');
  const keys: JWK[] = [
    { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
    { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
  ];
  jwks = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys }));
  });
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  const { port } = jwks.address() as AddressInfo;
  const logger = pino(
    { level: 'debug', redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    new Writable({ write: (chunk: Buffer, _e, cb) => (logLines.push(chunk.toString()), cb()) }),
  );
  app = createApp({
    ...sys.deps,
    logger,
    env: {
      ...testEnv,
      AUTH_JWT_HS256_SECRET: SECRET,
      AUTH_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
      AUTH_JWT_ALGORITHMS: 'HS256,RS256,ES256',
      AUTH_JWT_ISSUER: ISSUER,
      AUTH_JWT_AUDIENCE: AUDIENCE,
    },
  });
});
afterAll(async () => {
  await new Promise((r) => jwks?.close(r));
  await sys?.stop();
});

const hs = (
  claims: Record<string, unknown> = {},
  opts: { exp?: string | number; nbf?: string | number; iss?: string; aud?: string; secret?: string } = {},
) => {
  const jwt = new SignJWT({ roles: ['analyst'], ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('alice')
    .setIssuedAt()
    .setIssuer(opts.iss ?? ISSUER)
    .setAudience(opts.aud ?? AUDIENCE)
    .setExpirationTime(opts.exp ?? '5m');
  if (opts.nbf !== undefined) jwt.setNotBefore(opts.nbf);
  return jwt.sign(new TextEncoder().encode(opts.secret ?? SECRET));
};
const get = (token: string | false, path = '/v1/targets') =>
  call({ app }, 'GET', path, undefined, {}, { auth: token });

describe('JWT bearer tokens', () => {
  it('accepts a valid HS256 token and grants its roles', async () => {
    const token = await hs();
    expect((await get(token)).status).toBe(200);
    const denied = await get(token, '/v1/audit');
    expect(denied.status).toBe(403);
    expect(denied.body.detail).toContain('audit:read');
  });

  it('accepts RS256 and ES256 tokens whose keys come from the JWKS URL', async () => {
    for (const [alg, kid, key] of [
      ['RS256', 'rsa-1', rsa.privateKey],
      ['ES256', 'ec-1', ec.privateKey],
    ] as const) {
      const token = await new SignJWT({ roles: ['operator'] })
        .setProtectedHeader({ alg, kid })
        .setSubject(`svc-${alg}`)
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setExpirationTime('5m')
        .sign(key);
      expect((await get(token)).status, alg).toBe(200);
    }
  });

  it.each([
    ['missing', async () => false as const, /credentials required/],
    ['expired', () => hs({}, { exp: Math.floor(Date.now() / 1000) - 3600 }), /expired/],
    ['not yet valid (nbf)', () => hs({}, { nbf: Math.floor(Date.now() / 1000) + 3600 }), /nbf/],
    ['from another issuer', () => hs({}, { iss: 'https://evil.test' }), /iss/],
    ['for another audience', () => hs({}, { aud: 'someone-else' }), /aud/],
    [
      'signed with another secret',
      () => hs({}, { secret: 'another-secret-that-is-also-32-characters-long' }),
      /signature/,
    ],
    [
      'tampered (payload changed after signing)',
      async () => {
        const [h, p, s] = (await hs()).split('.');
        const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
        payload.roles = ['admin'];
        return `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
      },
      /signature/,
    ],
    [
      'unsigned (alg: none)',
      async () => {
        const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
        return `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ sub: 'mallory', roles: ['admin'], iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 600 })}.`;
      },
      /algorithm/,
    ],
    [
      'signed with an algorithm not configured (HS512)',
      () =>
        new SignJWT({ roles: ['admin'] })
          .setProtectedHeader({ alg: 'HS512' })
          .setSubject('x')
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setExpirationTime('5m')
          .sign(new TextEncoder().encode(SECRET.repeat(2))),
      /algorithm/,
    ],
    [
      'signed by a key outside the JWKS',
      () =>
        new SignJWT({ roles: ['admin'] })
          .setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' })
          .setSubject('x')
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setExpirationTime('5m')
          .sign(stranger.privateKey),
      /signature/,
    ],
    [
      'without sub',
      () =>
        new SignJWT({ roles: ['admin'] })
          .setProtectedHeader({ alg: 'HS256' })
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setExpirationTime('5m')
          .sign(new TextEncoder().encode(SECRET)),
      /sub/,
    ],
    ['not a JWT at all', async () => 'not.a.jwt', /malformed/],
  ])('answers 401 to a token %s', async (_name, make, detail) => {
    const token = await make();
    const r = await get(token);
    expect(r.status).toBe(401);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    expect(r.body.detail).toMatch(detail);
    if (token) expect(JSON.stringify(r.body)).not.toContain(token);
  });

  it('answers 401 to a non-bearer Authorization scheme', async () => {
    const r = await call({ app }, 'GET', '/v1/targets', undefined, {
      authorization: 'Basic YWRtaW46YWRtaW4=',
    });
    expect(r.status).toBe(401);
  });

  it('refuses an HS256 token on a server configured for RS256 only (algorithm confusion)', async () => {
    const rsOnly = createApp({
      ...sys.deps,
      env: {
        ...testEnv,
        AUTH_JWKS_URL: 'http://127.0.0.1:9/jwks',
        AUTH_JWT_ISSUER: ISSUER,
        AUTH_JWT_AUDIENCE: AUDIENCE,
      },
    });
    const r = await call(
      { app: rsOnly },
      'GET',
      '/v1/targets',
      undefined,
      {},
      { auth: await hs({ roles: ['admin'] }) },
    );
    expect(r.status).toBe(401);
    expect(r.body.detail).toMatch(/algorithm/);
  });

  it('refuses to start with JWTs configured but no issuer or audience', () => {
    expect(() => createApp({ ...sys.deps, env: { ...testEnv, AUTH_JWT_HS256_SECRET: SECRET } })).toThrow(
      /AUTH_JWT_ISSUER/,
    );
  });
});

describe('API keys', () => {
  it('shows the secret once, stores only a digest, records last use, and stops working when revoked', async () => {
    const created = await call(sys, 'POST', '/v1/api-keys', {
      name: 'telemetry for support-bot',
      roles: ['ingest'],
    });
    expect(created.status).toBe(201);
    const { key, id, prefix } = created.body;
    expect(key).toMatch(/^llmo_[a-z0-9]{12}_/);
    expect(key).toContain(prefix);
    expect(created.headers.get('cache-control')).toBe('no-store');

    const stored = await sys.deps.db.query('SELECT * FROM api_keys WHERE id = $1', [id]);
    // The secret part of the key: it may itself contain underscores (base64url), so not split('_').
    const secret = API_KEY_PATTERN.exec(key)![2]!;
    expect(JSON.stringify(stored.rows[0])).not.toContain(secret);

    const read = await call(sys, 'GET', `/v1/api-keys/${id}`);
    expect(read.body.key).toBeUndefined();
    expect(read.body.last_used_at).toBeNull();
    const listed = await call(sys, 'GET', '/v1/api-keys?limit=200');
    expect(JSON.stringify(listed.body)).not.toContain(key);

    // The ingest role reads routing configs but not targets.
    expect((await call(sys, 'GET', '/v1/targets', undefined, {}, { auth: key })).status).toBe(403);
    expect(
      (await call(sys, 'GET', '/v1/targets/none-such/config', undefined, { 'x-api-key': key })).status,
    ).toBe(404);
    await eventually(async () => (await call(sys, 'GET', `/v1/api-keys/${id}`)).body.last_used_at, {
      what: 'last_used_at',
    });

    const revoked = await call(sys, 'DELETE', `/v1/api-keys/${id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).not.toBeNull();
    const after = await call(sys, 'GET', '/v1/targets/none-such/config', undefined, {}, { auth: key });
    expect(after.status).toBe(401);
    expect(after.body.detail).toMatch(/revoked/);
    expect(
      (await call(sys, 'GET', '/v1/api-keys')).body.items.map((k: { id: string }) => k.id),
    ).not.toContain(id);
    expect(
      (await call(sys, 'GET', '/v1/api-keys?include_revoked=true&limit=200')).body.items.map(
        (k: { id: string }) => k.id,
      ),
    ).toContain(id);
  });

  it('refuses an expired key, a key with a wrong secret, and a malformed key', async () => {
    const expired = await call(sys, 'POST', '/v1/api-keys', {
      name: 'short-lived',
      roles: ['analyst'],
      expires_at: new Date(Date.now() - 1000).toISOString(),
    });
    expect(expired.status).toBe(201);
    expect((await get(expired.body.key)).status).toBe(401);
    const forged = `${sys.adminKey.slice(0, 18)}${'A'.repeat(43)}`;
    const r = await call(sys, 'GET', '/v1/targets', undefined, {}, { auth: forged });
    expect(r.status).toBe(401);
    expect((await call(sys, 'GET', '/v1/targets', undefined, {}, { auth: 'llmo_short' })).status).toBe(401);
  });

  it('names the bad fields of a key request and refuses unknown roles', async () => {
    const r = await call(sys, 'POST', '/v1/api-keys', { name: '', roles: ['root'], extra: true });
    expect(r.status).toBe(422);
    expect(r.body.errors.map((e: { path: string }) => e.path)).toEqual(
      expect.arrayContaining(['name', 'roles[0]']),
    );
    expect((await call(sys, 'GET', '/v1/api-keys/not-a-uuid')).status).toBe(400);
    expect((await call(sys, 'DELETE', `/v1/api-keys/00000000-0000-4000-8000-000000000000`)).status).toBe(404);
  });

  it('lets only admins manage keys', async () => {
    const operator = await sys.keyFor('operator');
    const r = await call(
      sys,
      'POST',
      '/v1/api-keys',
      { name: uniqueName('escalate'), roles: ['admin'] },
      {},
      { auth: operator },
    );
    expect(r.status).toBe(403);
  });
});

describe('secrets', () => {
  it('never writes a credential to a log line', async () => {
    const token = await hs();
    logLines.length = 0;
    await get(token);
    await get(`${token}x`);
    await get(sys.adminKey);
    await call({ app }, 'GET', '/v1/targets', undefined, { 'x-api-key': 'llmo_aaaaaaaaaaaa_bogus' });
    const text = logLines.join('\n');
    expect(text).not.toContain(token);
    expect(text).not.toContain(sys.adminKey);
    expect(text).not.toContain('llmo_aaaaaaaaaaaa_bogus');
    // pino's redaction covers the header paths a request logger would use.
    const probe: string[] = [];
    const l = pino(
      { redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
      new Writable({ write: (c: Buffer, _e, cb) => (probe.push(c.toString()), cb()) }),
    );
    l.info({
      req: { headers: { authorization: `Bearer ${token}`, 'x-api-key': sys.adminKey } },
      secret: 's3cr3t',
      api_key: sys.adminKey,
    });
    expect(probe.join('')).not.toContain(token);
    expect(probe.join('')).not.toContain(sys.adminKey);
    expect(probe.join('')).not.toContain('s3cr3t');
  });
});
