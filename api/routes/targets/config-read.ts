/**
 * GET /v1/targets/{target}/config, the read every application polls, answered two ways with one answer.
 *
 * The Hono route (targets.handlers.ts) answers every case: validation, 401, 403, 404, 429, cache loads.
 * In front of it, `createConfigReadFastPath` answers on node:http itself (api/server.ts) when everything
 * the answer needs is already in this process's memory:
 * - the URL is one the Hono route already validated (`configInputs` remembers it, by the raw request
 *   target),
 * - the credential was verified before and is still good (the authenticator's cache),
 * - its roles grant the route's permission of the permission table,
 * - the limiter can grant a cell at once (a leased cell, or the in-process store),
 * - the routing config is in the first cache tier.
 * Then it writes the same status, body and headers the route would (secure headers, request id,
 * RateLimit fields, ETag, 304 on If-None-Match), counts the request in the same metrics, and has spent
 * the same rate-limit cell. Anything else -- a refusal, a miss, a CORS request, a Host that Hono would
 * question -- goes to Hono untouched, before a cell is spent, so nothing is decided twice.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { registeredDeferredCounter } from '../../../platform/metrics';
import type { Context } from 'hono';
// The config's JSON and ETag, computed once per version, are the use case's: the same for every door.
import { serializedConfig } from '../../../app/targets';
import { commonHeaderList, requestIdOf } from '../../lib/headers';
import { PERMISSIONS, rolesGrant, type Permission } from '../../lib/permissions';
import { validationHook } from '../../lib/problem';
import type { RequestInstruments } from '../../lib/request-metrics';
import { TargetParam } from '../../lib/schemas';
import type { ApiDeps, AppBindings } from '../../lib/types';
import { rateLimitHeaders } from '../../middleware/rate-limit';
import { routingConfigKey } from '../../../adapters/cache/routing-configs';
import type { Security } from '../../middleware/security';
import { ConfigQuery, getConfig } from './targets.routes';

/** The route as the metrics and the permission table name it. */
export const CONFIG_ROUTE = getConfig.path.replace('{target}', ':target');

/** How many requests the fast path answered, beside llmopt_http_requests_total (which counts all). */
const fastPathCounter = (registry: Registry) =>
  registeredDeferredCounter(registry, {
    name: 'llmopt_http_fast_path_requests_total',
    help: 'Requests answered from memory in front of the Hono app (api/server.ts), by route',
    labelNames: ['route'],
  });

export type ConfigInput = { target: string; segment: string; /** routingConfigKey of the two */ key: string };

/** The request target as received (path and query), the key under which its validation is remembered. */
function requestTarget(c: Context<AppBindings>): string {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (incoming?.url !== undefined) return incoming.url;
  const url = c.req.url; // app.request() in tests: no socket, an absolute URL
  return url.slice(url.indexOf('/', url.indexOf('//') + 2));
}

/**
 * The route's path and query, validated by its own schemas as the OpenAPI validators would (query first,
 * answering the same problem+json), and remembered by request target: pollers repeat the same few URLs,
 * so a poll costs a map lookup instead of parsing the query and a zod parse of each part. Bounded, as
 * URLs come from callers; only valid ones are kept. Shared by every app of the process: validation
 * depends on nothing but the URL.
 */
export const configInputs = (() => {
  const MAX = 10_000;
  const valid = new Map<string, ConfigInput>();
  return {
    /** The input of a request target (path and query) validated before, with no parsing. */
    known: (requestTarget: string): ConfigInput | undefined => valid.get(requestTarget),
    /** The input of a request routed to the config route, or its problem+json answer. */
    validate(c: Context<AppBindings>): ConfigInput | Response {
      const key = requestTarget(c);
      const known = valid.get(key);
      if (known) return known;
      const given = c.req.queries('segment');
      // One value as a string, repeated values as the array the query validator would have passed.
      const segment = given?.length === 1 ? given[0] : given;
      const query = ConfigQuery.safeParse(segment === undefined ? {} : { segment });
      if (!query.success) return validationHook({ success: false, error: query.error, target: 'query' }, c)!;
      const param = TargetParam.safeParse({ target: c.req.param('target') });
      if (!param.success) return validationHook({ success: false, error: param.error, target: 'param' }, c)!;
      const input = {
        target: param.data.target,
        segment: query.data.segment,
        key: routingConfigKey(param.data.target, query.data.segment),
      };
      if (valid.size >= MAX) valid.clear();
      valid.set(key, input);
      return input;
    },
  };
})();

/** A Host that @hono/node-server accepts as it is (a name or address, a port up to 65535); others are its to judge. */
const PLAIN_HOST = /^[a-z0-9._-]+(?::(?:\d{1,4}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5]))?$/;

/**
 * node:http keeps the first of repeated Authorization or Host headers; Hono sees them all (and refuses
 * the joined credential). A request that repeats either is Hono's, so both paths judge it alike.
 */
function repeatsAuthorizationOrHost(raw: string[]): boolean {
  let authorization = 0;
  let host = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 13 && name.toLowerCase() === 'authorization' && ++authorization > 1) return true;
    if (name.length === 4 && name.toLowerCase() === 'host' && ++host > 1) return true;
  }
  return false;
}

/**
 * The fast path: `true` when it answered the request, `false` (having read nothing from the socket,
 * written nothing and spent nothing) when Hono must.
 */
export function createConfigReadFastPath(
  deps: ApiDeps,
  security: Security,
  instruments: RequestInstruments,
): ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined {
  const cache = deps.caches?.routingConfigs;
  if (!cache) return undefined; // every read goes to the repository: nothing to answer from memory
  // The permission the table gives this route, read from the table itself.
  const access = security.match('GET', CONFIG_ROUTE.replace(':target', 'x'))?.rule.access;
  // A permission a caller's roles grant: not `public`, nor one any identity has, nor a system one.
  const isPermission = (a: string): a is Permission => (PERMISSIONS as readonly string[]).includes(a);
  if (access === undefined || !isPermission(access) || access.startsWith('system:'))
    throw new Error(`the permission table has no caller permission for GET ${CONFIG_ROUTE}`);
  const permission = access;
  const cors = (deps.env.API_CORS_ORIGINS ?? '').trim() !== '';
  const { env } = deps;
  const observed = instruments.route('GET', CONFIG_ROUTE);
  const answered = fastPathCounter(deps.metrics.registry).bind({ route: CONFIG_ROUTE });

  return (req, res) => {
    if (req.method !== 'GET') return false;
    const input = configInputs.known(req.url ?? '');
    if (!input) return false;
    const started = performance.now();
    const h = req.headers;
    if ((cors && h.origin !== undefined) || h.host === undefined || !PLAIN_HOST.test(h.host)) return false;
    if (repeatsAuthorizationOrHost(req.rawHeaders)) return false;
    const cfg = cache.peek(input.key);
    if (!cfg) return false;
    const identity = security.authenticator.known({
      authorization: h.authorization,
      apiKey: h['x-api-key'] as string | undefined,
    });
    if (!identity || !rolesGrant(identity.roles, permission)) return false;
    const perMinute = env.API_RATE_LIMIT_PER_MINUTE;
    let limits;
    if (perMinute > 0) {
      const decision = security.limiter.takeLocal(identity.id, perMinute);
      if (!decision) return false;
      limits = rateLimitHeaders(decision);
    }
    // Decided: from here on this path answers.
    const { bytes, length, etag } = serializedConfig(cfg);
    const headers = commonHeaderList(requestIdOf(h['x-request-id'] as string | undefined), limits);
    let status: number;
    if (h['if-none-match'] === etag) {
      status = 304;
      headers.push('etag', etag);
      res.writeHead(status, headers);
      res.end();
    } else {
      status = 200;
      headers.push(
        'content-type',
        'application/json',
        'etag',
        etag,
        'cache-control',
        'no-cache',
        'content-length',
        length,
      );
      res.writeHead(status, headers);
      res.end(bytes);
    }
    observed.observe(status, performance.now() - started);
    answered.inc();
    return true;
  };
}
