/**
 * The gate in front of every gRPC method, and the keeper of open streams.
 *
 * A call is authenticated from its metadata before its handler reads a message (the handler of a client
 * stream starts when the headers arrive; grpc-js reads nothing from the HTTP/2 stream until asked). A
 * failure costs the peer address one call of the anonymous allowance (API_RATE_LIMIT_ANONYMOUS_PER_MINUTE,
 * the bucket REST's anonymous callers spend), so guessing credentials over gRPC is as slow as over REST.
 *
 * A stream holds a lease: a place in the per-connection and per-identity limits, and its credential,
 * checked again before every message it sends or ingests and every RECHECK_MS while it idles. The check is
 * the authenticator's verified-credential cache (no I/O) until that entry ends: a revocation empties it on
 * every replica through the invalidation bus, a token's entry ends at its `exp`, and any entry after
 * AUTH_API_KEY_CACHE_MS. Then the credential is verified again, and a revoked key or an expired token ends
 * the stream with UNAUTHENTICATED.
 */
import * as grpc from '@grpc/grpc-js';
import { AppError } from '../../domain/errors';
import { grpcCounters, type GrpcAuthFailure, type GrpcStreamEnd } from '../../platform/metrics';
import { GRPC_METHOD_RULES, rolesGrant, type Identity } from '../lib/permissions';
import type { ApiDeps } from '../lib/types';
import type { PresentedCredential } from '../middleware/auth';
import type { Security } from '../middleware/security';
import { toStatus, toStreamError } from './common';

/**
 * A refusal for want of permission, holding who was refused, so the audit records the attempt as REST's
 * does for a 403.
 */
class PermissionDenied extends AppError {
  constructor(
    message: string,
    readonly identity: Identity,
  ) {
    super('forbidden', message);
  }
}

/** The methods that change something: their permission is neither a read nor telemetry ingestion. */
const isChange = (path: string): boolean => {
  const permission = GRPC_METHOD_RULES[path];
  return permission !== undefined && !permission.endsWith(':read') && permission !== 'events:ingest';
};

/** How often an idle stream's credential is checked: a revocation or an expiry ends it within this. */
export const RECHECK_MS = 250;

interface Caller {
  metadata: grpc.Metadata;
  getPath(): string;
  getPeer(): string;
}

export interface Authorized {
  identity: Identity;
  credential: PresentedCredential;
}

export interface StreamLease {
  /** Resolves while the stream's credential is still good; throws the UNAUTHENTICATED error otherwise. */
  confirm(): Promise<void>;
  /** Frees the stream's places in the limits; idempotent. */
  release(): void;
}

/** The address of a peer string (`1.2.3.4:5678`, `[::1]:5678`), without its port. */
export function peerAddress(peer: string): string {
  const v6 = /^\[(.*)\]:\d+$/.exec(peer);
  if (v6) return v6[1]!;
  const v4 = /^([^:]*):\d+$/.exec(peer);
  return v4 ? v4[1]! : peer;
}

interface OpenStream {
  connection: string;
  identityId: string | undefined;
  credentialKey: string | undefined;
  end: (err: AppError) => void;
  released: boolean;
}

interface CredentialGroup {
  credential: PresentedCredential;
  streams: Set<OpenStream>;
  checking: Promise<void> | undefined;
}

export type Guard = ReturnType<typeof createGuard>;

type GrpcCounters = ReturnType<typeof grpcCounters>;

export function createGuard(deps: ApiDeps, security: Security) {
  const counters = grpcCounters(deps.metrics.registry);
  const authorize = createAuthorizer(deps, security, counters);
  const { openStream, close } = createStreamKeeper(deps, security.authenticator, counters);

  /**
   * The audit trail of gRPC, as REST's audit middleware keeps it: every change that succeeded, failed on
   * our side, or was refused for want of permission, with who, what and on which resource.
   */
  async function audit(call: Caller, request: unknown, identity: Identity | undefined, err?: unknown) {
    const path = call.getPath();
    if (!isChange(path)) return;
    const status = err === undefined ? undefined : toStatus(err, deps);
    const refused = err instanceof PermissionDenied;
    const who = refused ? err.identity : identity;
    // Rejected input changed nothing, and an unauthenticated caller has no identity worth recording.
    if (
      status &&
      !refused &&
      !(status.code === grpc.status.INTERNAL || status.code === grpc.status.UNAVAILABLE)
    )
      return;
    if (!who) return;
    const fields = (request ?? {}) as { id?: unknown; target?: unknown };
    const text = (v: unknown) => (typeof v === 'string' && v ? encodeURIComponent(v) : undefined);
    const id = text(fields.id);
    const target = text(fields.target);
    // The REST path of what was acted on, so one resource filter finds its changes from either door.
    const resource = path.startsWith('/llmopt.v1.RolloutService/')
      ? id && `/v1/rollouts/${id}`
      : id
        ? `/v1/optimizations/${id}`
        : target && `/v1/targets/${target}`;
    try {
      await security.repos.audit.record({
        actor: who.id,
        actor_kind: who.kind,
        roles: who.roles,
        action: `gRPC ${path}`,
        resource: resource ?? path,
        outcome: !status ? 'success' : refused ? 'denied' : 'failed',
        status: !status ? 200 : refused ? 403 : 500,
        request_id: null,
        details: {
          ...(who.kind !== 'anonymous' ? { actor_name: who.actor } : {}),
          ...(!status ? { request } : { error: status.details }),
        },
      });
    } catch (e) {
      // The change itself is done; losing its audit row is reported loudly, not turned into an error.
      deps.logger.error({ err: String(e), method: path }, 'could not write the audit log');
    }
  }

  /** A unary method behind the gate; a change is audited before it is answered. */
  function unary<Req, Res>(
    fn: (req: Req, identity: Identity) => Promise<Res>,
  ): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      let identity: Identity | undefined;
      authorize(call)
        .then((authorized) => {
          identity = authorized.identity;
          return fn(call.request, authorized.identity);
        })
        .then(
          async (res) => {
            await audit(call, call.request, identity);
            callback(null, res);
          },
          async (err: unknown) => {
            await audit(call, call.request, identity, err);
            callback(toStatus(err, deps));
          },
        );
    };
  }

  /**
   * A server stream behind the gate, holding a lease while it runs. `emit` confirms the credential before
   * each message, so nothing is sent once it was revoked; `alive` is false once the stream ended.
   */
  function serverStream<Req, Res>(
    fn: (
      req: Req,
      identity: Identity,
      emit: (r: Res) => Promise<void>,
      alive: () => boolean,
    ) => Promise<void>,
  ): grpc.handleServerStreamingCall<Req, Res> {
    return (call) => {
      let open = true;
      let lease: StreamLease | undefined;
      const finish = () => {
        open = false;
        lease?.release();
      };
      call.on('cancelled', finish);
      call.on('close', finish);
      const fail = (err: unknown) => {
        if (!open) return;
        finish();
        // grpc-js sends an 'error' event's status as the stream's trailers (destroy() would send none).
        call.emit('error', toStreamError(err, deps));
      };
      authorize(call)
        .then(async (authorized) => {
          if (!open) return;
          const held = openStream(call, authorized, fail);
          lease = held;
          const emit = async (r: Res) => {
            await held.confirm();
            if (open) call.write(r);
          };
          await fn(call.request, authorized.identity, emit, () => open);
        })
        .then(() => {
          if (!open) return;
          finish();
          call.end();
        }, fail);
    };
  }

  return { authorize, openStream, unary, serverStream, counters, close };
}

/** Authenticates a call from its metadata, rate-limits it, and checks its method's permission. */
function createAuthorizer(deps: ApiDeps, security: Security, counters: GrpcCounters) {
  const { authenticator, limiter } = security;
  const credentialOf = (metadata: grpc.Metadata): PresentedCredential => {
    const first = (k: string) => {
      const v = metadata.get(k)[0];
      return typeof v === 'string' ? v : undefined;
    };
    return { authorization: first('authorization'), apiKey: first('x-api-key') };
  };

  /** Spends one call of the peer's anonymous allowance; throws RESOURCE_EXHAUSTED when none is left. */
  async function spendAnonymous(address: string, what: string): Promise<void> {
    const perMinute = deps.env.API_RATE_LIMIT_ANONYMOUS_PER_MINUTE;
    if (perMinute <= 0) return;
    const d = await limiter.consume(`ip:${address}`, perMinute);
    if (!d.allowed) {
      counters.authFailure('rate_limited');
      throw new AppError(
        'rate_limited',
        `more than ${perMinute} ${what} a minute from this address (API_RATE_LIMIT_ANONYMOUS_PER_MINUTE)`,
        { retryAfterSeconds: d.retryAfterSeconds },
      );
    }
  }

  async function refuse(address: string, reason: GrpcAuthFailure, err: AppError): Promise<never> {
    await spendAnonymous(address, 'calls without a valid credential');
    counters.authFailure(reason);
    throw err;
  }

  /** The caller's identity and credential, or the UNAUTHENTICATED / PERMISSION_DENIED error. */
  async function authorize(call: Caller): Promise<Authorized> {
    const credential = credentialOf(call.metadata);
    const address = peerAddress(call.getPeer());
    let identity: Identity | undefined;
    try {
      identity = await authenticator.authenticate(credential, {
        // An API-key prefix not seen lately costs a query: the anonymous allowance pays for it first.
        beforeLookup: async () => {
          const perMinute = deps.env.API_RATE_LIMIT_ANONYMOUS_PER_MINUTE;
          if (perMinute <= 0) return;
          const d = await limiter.consume(`lookup:ip:${address}`, perMinute);
          if (!d.allowed) {
            counters.authFailure('rate_limited');
            throw new AppError(
              'rate_limited',
              `more than ${perMinute} unknown API keys a minute from this address`,
              { retryAfterSeconds: d.retryAfterSeconds },
            );
          }
        },
      });
    } catch (err) {
      if (err instanceof AppError && err.type === 'unauthorized')
        return refuse(address, 'invalid_credentials', err);
      throw err;
    }
    if (!identity)
      return refuse(
        address,
        'missing_credentials',
        new AppError(
          'unauthorized',
          'credentials required: metadata "authorization: Bearer <API key or token>"',
        ),
      );
    const perMinute = deps.env.API_RATE_LIMIT_PER_MINUTE;
    if (perMinute > 0) {
      const d = await limiter.consume(identity.id, perMinute);
      if (!d.allowed)
        throw new AppError('rate_limited', `rate limit of ${perMinute} requests per minute exceeded`, {
          retryAfterSeconds: d.retryAfterSeconds,
        });
    }
    const permission = GRPC_METHOD_RULES[call.getPath()];
    if (!permission) {
      counters.authFailure('permission_denied');
      throw new AppError(
        'forbidden',
        'this method has no entry in the permission table and is denied to everyone',
      );
    }
    if (!rolesGrant(identity.roles, permission)) {
      counters.authFailure('permission_denied');
      throw new PermissionDenied(
        `${identity.roles.join(', ') || 'no role'} lacks the permission "${permission}"`,
        identity,
      );
    }
    return { identity, credential };
  }

  return authorize;
}

/** The open streams: their places in the limits, and their credentials checked again while they run. */
function createStreamKeeper(deps: ApiDeps, authenticator: Security['authenticator'], counters: GrpcCounters) {
  const perConnection = new Map<string, number>();
  const perIdentity = new Map<string, number>();
  const groups = new Map<string, CredentialGroup>();
  let timer: NodeJS.Timeout | undefined;

  const credentialKey = (c: PresentedCredential) => `${c.apiKey ?? ''}\u0000${c.authorization ?? ''}`;

  function release(s: OpenStream) {
    if (s.released) return;
    s.released = true;
    const decrement = (m: Map<string, number>, k: string) => {
      const n = (m.get(k) ?? 1) - 1;
      if (n <= 0) m.delete(k);
      else m.set(k, n);
    };
    decrement(perConnection, s.connection);
    if (s.identityId !== undefined) decrement(perIdentity, s.identityId);
    if (s.credentialKey !== undefined) {
      const g = groups.get(s.credentialKey);
      g?.streams.delete(s);
      if (g?.streams.size === 0) groups.delete(s.credentialKey);
    }
    if (groups.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  }

  /** Ends every stream of a credential that no longer authenticates. */
  function endGroup(g: CredentialGroup, err: AppError) {
    const reason: GrpcStreamEnd = /expired/i.test(err.message) ? 'credential_expired' : 'credential_revoked';
    for (const s of [...g.streams]) {
      counters.streamEnded(reason);
      release(s);
      s.end(err);
    }
  }

  /**
   * Settles a group's credential: at once while the authenticator still holds it as verified, otherwise
   * by verifying it again (one verification at a time per credential, shared by its streams). A failure
   * that is not the credential's (the database does not answer) leaves the streams open: the next check
   * settles it.
   */
  function check(g: CredentialGroup): Promise<void> {
    if (authenticator.known(g.credential)) return Promise.resolve();
    g.checking ??= authenticator
      .authenticate(g.credential)
      .then(
        () => undefined,
        (err: unknown) => {
          if (err instanceof AppError && err.type === 'unauthorized') {
            endGroup(g, err);
            throw err;
          }
        },
      )
      .finally(() => (g.checking = undefined));
    return g.checking;
  }

  function tick() {
    for (const g of groups.values()) check(g).catch(() => undefined);
  }

  /**
   * Takes a place for a stream, or throws RESOURCE_EXHAUSTED naming the limit. `end` is called when the
   * server ends the stream (its credential was revoked or expired), after its places are freed.
   */
  function openStream(
    call: Caller,
    authorized: Authorized | undefined,
    end: (err: AppError) => void,
  ): StreamLease {
    const connection = call.getPeer();
    const limit = (reason: GrpcStreamEnd, message: string) => {
      counters.streamEnded(reason);
      return new AppError('rate_limited', message, { retryAfterSeconds: 1 });
    };
    const maxPerConnection = deps.env.GRPC_MAX_STREAMS_PER_CONNECTION;
    if ((perConnection.get(connection) ?? 0) >= maxPerConnection)
      throw limit(
        'connection_limit',
        `more than ${maxPerConnection} streams open on this connection (GRPC_MAX_STREAMS_PER_CONNECTION)`,
      );
    const identityId = authorized?.identity.id;
    const maxPerIdentity = deps.env.GRPC_MAX_STREAMS_PER_IDENTITY;
    if (identityId !== undefined && (perIdentity.get(identityId) ?? 0) >= maxPerIdentity)
      throw limit(
        'identity_limit',
        `more than ${maxPerIdentity} streams open for this identity (GRPC_MAX_STREAMS_PER_IDENTITY)`,
      );
    perConnection.set(connection, (perConnection.get(connection) ?? 0) + 1);
    if (identityId !== undefined) perIdentity.set(identityId, (perIdentity.get(identityId) ?? 0) + 1);
    const key = authorized ? credentialKey(authorized.credential) : undefined;
    const stream: OpenStream = { connection, identityId, credentialKey: key, end, released: false };
    let group: CredentialGroup | undefined;
    if (authorized && key !== undefined) {
      group = groups.get(key);
      if (!group)
        groups.set(
          key,
          (group = { credential: authorized.credential, streams: new Set(), checking: undefined }),
        );
      group.streams.add(stream);
      timer ??= setInterval(tick, RECHECK_MS).unref();
    }
    const g = group;
    return {
      confirm: () => (g && !stream.released ? check(g) : Promise.resolve()),
      release: () => release(stream),
    };
  }

  return {
    openStream,
    close() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
