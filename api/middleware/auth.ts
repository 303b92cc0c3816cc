/**
 * Authentication shared by REST and gRPC: JWT bearer tokens verified with jose (HS256 with a shared
 * secret; RS256/ES256 from a JWKS URL) and API keys looked up by prefix and compared by SHA-256 digest.
 * Every failure is a 401 whose message never contains the presented credential.
 */
import { createSecretKey } from 'node:crypto';
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { LRUCache } from 'lru-cache';
import { AppError } from '../../domain/errors';
import { ConfigError, type Env } from '../../platform/env';
import { API_KEY_PATTERN, type ApiKeyCredential, type ApiKeysRepo } from '../../adapters/db/repos/api-keys';
import type { Logger } from '../../platform/logger';
import { isRole, type Identity } from '../lib/permissions';

export type JwtAlgorithm = 'HS256' | 'RS256' | 'ES256';

/** A credential as presented: the Authorization header value and/or an X-API-Key header value. */
export interface PresentedCredential {
  authorization?: string | undefined;
  apiKey?: string | undefined;
}

/** What `authenticate` asks of its caller. */
export interface AuthenticateOptions {
  /**
   * Called before an API key's prefix is looked up in the database (a prefix neither verified nor known
   * to be absent lately); throwing refuses the credential without the query. Lets the caller rate-limit
   * guessed prefixes per peer before they cost a query each.
   */
  beforeLookup?: () => Promise<void>;
}

export interface Authenticator {
  /** Resolves an identity, or throws AppError('unauthorized'); undefined when nothing was presented. */
  authenticate(credential: PresentedCredential, options?: AuthenticateOptions): Promise<Identity | undefined>;
  /**
   * The identity of a credential verified before and still good (same key record, token not expired),
   * at once and with no I/O; undefined for anything else, which `authenticate` then settles.
   */
  known(credential: PresentedCredential): Identity | undefined;
  /** Drops a key from this process's cache at once (revocation). */
  forget(prefix: string): void;
  /** Drops every cached key and verified credential of this process (an operator's cache flush). */
  forgetAll(): void;
  /** The algorithms a token may use, for documentation and tests. */
  readonly algorithms: readonly JwtAlgorithm[];
}

const unauthorized = (reason: string) => new AppError('unauthorized', reason);

interface JwtConfig {
  algorithms: JwtAlgorithm[];
  hsKey?: ReturnType<typeof createSecretKey>;
  jwks?: JWTVerifyGetKey;
  issuer: string;
  audience: string;
}

function jwtConfig(env: Env): JwtConfig | undefined {
  const configured = env.AUTH_JWT_HS256_SECRET !== undefined || env.AUTH_JWKS_URL !== undefined;
  if (!configured) return undefined;
  if (!env.AUTH_JWT_ISSUER || !env.AUTH_JWT_AUDIENCE) {
    // A token from any issuer for any audience would be accepted otherwise.
    throw new ConfigError(
      'AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE are required when JWT authentication is configured',
    );
  }
  const algorithms = (env.AUTH_JWT_ALGORITHMS?.split(',') as JwtAlgorithm[] | undefined) ?? [
    ...(env.AUTH_JWT_HS256_SECRET ? (['HS256'] as const) : []),
    ...(env.AUTH_JWKS_URL ? (['RS256', 'ES256'] as const) : []),
  ];
  if (algorithms.includes('HS256') && !env.AUTH_JWT_HS256_SECRET)
    throw new ConfigError('AUTH_JWT_ALGORITHMS names HS256 but AUTH_JWT_HS256_SECRET is unset');
  if (algorithms.some((a) => a !== 'HS256') && !env.AUTH_JWKS_URL)
    throw new ConfigError('AUTH_JWT_ALGORITHMS names RS256/ES256 but AUTH_JWKS_URL is unset');
  return {
    algorithms,
    ...(env.AUTH_JWT_HS256_SECRET
      ? { hsKey: createSecretKey(Buffer.from(env.AUTH_JWT_HS256_SECRET, 'utf8')) }
      : {}),
    ...(env.AUTH_JWKS_URL
      ? {
          jwks: createRemoteJWKSet(new URL(env.AUTH_JWKS_URL), {
            cooldownDuration: 30_000,
            cacheMaxAge: 600_000,
            timeoutDuration: 5_000,
          }),
        }
      : {}),
    issuer: env.AUTH_JWT_ISSUER,
    audience: env.AUTH_JWT_AUDIENCE,
  };
}

function rolesFrom(payload: JWTPayload, claim: string): Identity['roles'] {
  const raw = payload[claim];
  const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(' ') : [];
  return [...new Set(list.filter(isRole))];
}

function jwtFailure(err: unknown): AppError {
  if (err instanceof joseErrors.JWTExpired) return unauthorized('token expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed)
    return unauthorized(`token claim "${err.claim}" is not acceptable (${err.reason})`);
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return unauthorized('token algorithm is not accepted');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed)
    return unauthorized('token signature is invalid');
  if (err instanceof joseErrors.JWKSNoMatchingKey) return unauthorized('token is signed by an unknown key');
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid) {
    return new AppError('unavailable', 'the key set that verifies tokens cannot be fetched; retry later', {
      retryAfterSeconds: 5,
    });
  }
  return unauthorized('token is malformed or invalid');
}

/**
 * A token's algorithm, signature and claims checked, and the identity it carries with the span it is
 * good for; a failure is the precise 401 (or 503 while the key set cannot be fetched).
 */
async function verifyToken(
  token: string,
  jwt: JwtConfig,
  env: Env,
): Promise<{ identity: Identity; expMs: number; nbfMs: number }> {
  let alg: string | undefined;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    throw unauthorized('token is malformed');
  }
  // Checked before any key is chosen, so "none" or an HS256 token signed with a public key never
  // reaches a verifier (algorithm confusion).
  if (!alg || !(jwt.algorithms as string[]).includes(alg))
    throw unauthorized(`token algorithm "${String(alg).slice(0, 16)}" is not accepted`);
  const symmetric = alg === 'HS256';
  try {
    const { payload } = symmetric
      ? await jwtVerify(token, jwt.hsKey!, {
          algorithms: ['HS256'],
          issuer: jwt.issuer,
          audience: jwt.audience,
          clockTolerance: env.AUTH_JWT_CLOCK_TOLERANCE_S,
          requiredClaims: ['exp', 'sub'],
        })
      : await jwtVerify(token, jwt.jwks!, {
          algorithms: jwt.algorithms.filter((a) => a !== 'HS256'),
          issuer: jwt.issuer,
          audience: jwt.audience,
          clockTolerance: env.AUTH_JWT_CLOCK_TOLERANCE_S,
          requiredClaims: ['exp', 'sub'],
        });
    // jose checks that `sub` is present, not that it is a string: a number or an object would become
    // an identity such as "jwt:42" or "jwt:[object Object]" that nobody issued.
    const sub = payload.sub as unknown;
    if (typeof sub !== 'string' || sub === '')
      throw unauthorized('token claim "sub" must be a non-empty string');
    const identity: Identity = {
      kind: 'jwt',
      id: `jwt:${sub}`,
      actor: sub,
      roles: rolesFrom(payload, env.AUTH_JWT_ROLES_CLAIM),
    };
    return {
      identity,
      expMs: payload.exp! * 1000,
      nbfMs: typeof payload.nbf === 'number' ? payload.nbf * 1000 : 0,
    };
  } catch (err) {
    throw err instanceof AppError ? err : jwtFailure(err);
  }
}

export function createAuthenticator(deps: {
  env: Env;
  apiKeys: ApiKeysRepo;
  logger: Logger;
  /** Key records (and, apart, prefixes known to be absent) kept per process; 10,000 each by default. */
  maxCachedKeys?: number;
}): Authenticator {
  const { env, apiKeys, logger } = deps;
  const jwt = jwtConfig(env);
  const max = deps.maxCachedKeys ?? 10_000;
  const keyCache = new LRUCache<string, ApiKeyCredential>({
    max,
    ttl: Math.max(1, env.AUTH_API_KEY_CACHE_MS),
  });
  // Prefixes that match no key, bounded on their own: guessed prefixes never evict verified keys.
  const absentPrefixes = new LRUCache<string, true>({ max, ttl: Math.max(1, env.AUTH_API_KEY_CACHE_MS) });
  // Counts revocations (forget). A lookup that was in flight when one happened may have read the record
  // before it changed: it is read again, and an answer still raced by revocations is never cached.
  let revocations = 0;
  const lastTouched = new LRUCache<string, number>({ max: 10_000 });
  // Verified credentials, so a repeat caller costs one map lookup instead of a digest (API key) or a
  // signature check (JWT). An API-key entry is only good while its key record is the cached one: a
  // revocation (forget(), broadcast to every replica through the invalidation bus) or the record's own
  // TTL ends it. A token entry never outlives the token's exp and lasts at most the same short TTL.
  const credentialTtl = Math.max(1, env.AUTH_API_KEY_CACHE_MS);
  const verifiedKeys = new LRUCache<string, { cred: ApiKeyCredential; identity: Identity }>({
    max: 10_000,
    ttl: credentialTtl,
  });
  const verifiedTokens = new LRUCache<string, { identity: Identity; expMs: number; nbfMs: number }>({
    max: 10_000,
    ttl: credentialTtl,
  });
  const toleranceMs = env.AUTH_JWT_CLOCK_TOLERANCE_S * 1000;

  function knownToken(token: string): Identity | undefined {
    const seen = verifiedTokens.get(token);
    if (!seen) return undefined;
    const now = Date.now();
    if (now - toleranceMs < seen.expMs && now + toleranceMs >= seen.nbfMs) return seen.identity;
    verifiedTokens.delete(token); // expired since: verify again for the precise error
    return undefined;
  }

  async function verifyJwt(token: string): Promise<Identity> {
    if (!jwt) throw unauthorized('bearer tokens are not configured on this server; use an API key');
    const known = knownToken(token);
    if (known) return known;
    const verified = await verifyToken(token, jwt, env);
    verifiedTokens.set(token, verified);
    return verified.identity;
  }

  function touch(record: ApiKeyCredential['record']) {
    // last_used_at is for people auditing keys; a minute's precision spares a write per request.
    const now = Date.now();
    if (now - (lastTouched.get(record.id) ?? 0) > 60_000) {
      lastTouched.set(record.id, now);
      apiKeys
        .touch(record.id)
        .catch((err: unknown) =>
          logger.warn({ err: String(err), key: record.prefix }, 'could not record API key use'),
        );
    }
  }

  const expired = (record: ApiKeyCredential['record']) =>
    record.expires_at !== null && Date.parse(record.expires_at) <= Date.now();

  function knownKey(key: string): Identity | undefined {
    const seen = verifiedKeys.get(key);
    if (!seen || keyCache.get(seen.cred.record.prefix) !== seen.cred || expired(seen.cred.record))
      return undefined;
    touch(seen.cred.record);
    return seen.identity;
  }

  async function lookUp(prefix: string, options: AuthenticateOptions): Promise<ApiKeyCredential | undefined> {
    const cached = keyCache.get(prefix);
    if (cached) return cached;
    if (absentPrefixes.has(prefix)) return undefined;
    await options.beforeLookup?.();
    let found: ApiKeyCredential | null = null;
    for (let attempt = 0; attempt < 3; attempt++) {
      const seen = revocations;
      found = await apiKeys.findByPrefix(prefix);
      if (seen !== revocations) continue;
      if (found) keyCache.set(prefix, found);
      else absentPrefixes.set(prefix, true);
      break;
    }
    return found ?? undefined;
  }

  async function verifyApiKey(key: string, options: AuthenticateOptions): Promise<Identity> {
    const known = knownKey(key);
    if (known) return known;
    const m = API_KEY_PATTERN.exec(key);
    if (!m) throw unauthorized('API key is malformed');
    const prefix = m[1]!;
    const cred = await lookUp(prefix, options);
    if (!cred || !cred.matches(key)) throw unauthorized('API key is not valid');
    const { record } = cred;
    if (record.revoked_at) throw unauthorized('API key has been revoked');
    if (expired(record)) throw unauthorized('API key has expired');
    touch(record);
    const identity: Identity = {
      kind: 'api_key',
      id: `key:${prefix}`,
      actor: `${record.name} (key ${prefix})`,
      roles: record.roles.filter(isRole),
    };
    // Only while its record is the cached one (knownKey checks): not after a revocation raced the lookup.
    if (keyCache.get(prefix) === cred) verifiedKeys.set(key, { cred, identity });
    return identity;
  }

  return {
    algorithms: jwt?.algorithms ?? [],
    forget(prefix) {
      revocations++;
      keyCache.delete(prefix);
      absentPrefixes.delete(prefix);
    },
    forgetAll() {
      revocations++;
      keyCache.clear();
      absentPrefixes.clear();
      verifiedKeys.clear();
      verifiedTokens.clear();
    },
    async authenticate(credential, options = {}) {
      const c = presented(credential);
      if (c === undefined) return undefined;
      return c.kind === 'key' ? verifyApiKey(c.value, options) : verifyJwt(c.value);
    },
    known({ authorization, apiKey }) {
      if (apiKey !== undefined) return knownKey(apiKey.trim());
      if (authorization === undefined) return undefined;
      // The usual form, read without a regex. Any other spelling is parsed as `authenticate` would; a
      // credential read wrongly here is simply not among the verified ones.
      const value = authorization.startsWith('Bearer ')
        ? authorization.slice(7)
        : presented({ authorization }, false)?.value;
      if (value === undefined) return undefined;
      return value.startsWith('llmo_') ? knownKey(value) : knownToken(value);
    },
  };
}

/**
 * The credential in the headers: X-API-Key wins over Authorization, and a bearer credential starting
 * with llmo_ is an API key. Undefined when none was sent; a malformed Authorization throws the 401
 * (or, with `strict` false, counts as none: the caller then asks `authenticate` for the error).
 */
function presented(
  { authorization, apiKey }: PresentedCredential,
  strict = true,
): { kind: 'key' | 'token'; value: string } | undefined {
  if (apiKey !== undefined) return { kind: 'key', value: apiKey.trim() };
  if (authorization === undefined) return undefined;
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
  if (!m) {
    if (!strict) return undefined;
    throw unauthorized('Authorization must be "Bearer <token or API key>"');
  }
  const credential = m[1]!;
  return { kind: credential.startsWith('llmo_') ? 'key' : 'token', value: credential };
}
