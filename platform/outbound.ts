/**
 * Outbound HTTP to addresses that users configure (webhook subscribers, Slack, GitHub, Jira, the
 * Anthropic API at its configured base URL). Every connection is checked against the destination rules
 * at the moment the socket resolves its host, not only when the URL was registered: a DNS answer that
 * changes after registration (DNS rebinding) cannot point us at a private network. Redirects are never
 * followed automatically: by hand, each hop checked, where a caller asks for it (webhooks), else the 3xx
 * is the answer.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { traceOutbound } from './tracing';

export interface DestinationPolicy {
  allowPrivate: boolean;
  cidrs: [ipaddr.IPv4 | ipaddr.IPv6, number][];
  hosts: Set<string>;
}

export class DestinationRefused extends Error {
  override name = 'DestinationRefused';
}

/** Rules from WEBHOOK_ALLOW_PRIVATE_DESTINATIONS and WEBHOOK_ALLOWED_DESTINATIONS (CIDRs, IPs, host names). */
export function destinationPolicy(env: {
  WEBHOOK_ALLOW_PRIVATE_DESTINATIONS: boolean;
  WEBHOOK_ALLOWED_DESTINATIONS?: string | undefined;
}): DestinationPolicy {
  const policy: DestinationPolicy = {
    allowPrivate: env.WEBHOOK_ALLOW_PRIVATE_DESTINATIONS,
    cidrs: [],
    hosts: new Set(),
  };
  for (const raw of (env.WEBHOOK_ALLOWED_DESTINATIONS ?? '').split(',')) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry.includes('/')) policy.cidrs.push(ipaddr.parseCIDR(entry));
    else if (ipaddr.isValid(entry)) {
      const ip = ipaddr.process(entry);
      policy.cidrs.push([ip, ip.kind() === 'ipv4' ? 32 : 128]);
    } else policy.hosts.add(entry);
  }
  return policy;
}

const listed = (ip: ipaddr.IPv4 | ipaddr.IPv6, policy: DestinationPolicy) =>
  policy.cidrs.some(([net, bits]) => net.kind() === ip.kind() && ip.match(net, bits));

const ipv4Of = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
const NAT64_WELL_KNOWN = ipaddr.parseCIDR('64:ff9b::/96') as [ipaddr.IPv6, number];

/**
 * The IPv4 hosts an IPv6 address reaches through a transition mechanism (a translator, tunnel or relay
 * on the way would carry the connection there), or undefined when it is a plain IPv6 address. Each form
 * that ipaddr.js names is here, and the IPv4-compatible form it calls unicast.
 */
function carriedIPv4(ip: ipaddr.IPv6): ipaddr.IPv4[] | undefined {
  const p = ip.parts as [number, number, number, number, number, number, number, number];
  switch (ip.range()) {
    case 'ipv4Mapped': // ::ffff:a.b.c.d
    case 'rfc6145': // ::ffff:0:a.b.c.d, stateless translation (SIIT)
      return [ipv4Of(p[6], p[7])];
    case 'rfc6052':
      // 64:ff9b::a.b.c.d (NAT64). The local-use 64:ff9b:1::/48 places the IPv4 address where its
      // operator chose, and is private by definition: left to the range rule, which refuses it.
      return ip.match(NAT64_WELL_KNOWN) ? [ipv4Of(p[6], p[7])] : undefined;
    case '6to4': // 2002:aabb:ccdd::/48 is the 6to4 site of a.b.c.d
      return [ipv4Of(p[1], p[2])];
    case 'teredo': // 2001:0:<server v4>:<flags>:<port>:<client v4, bits inverted>
      return [ipv4Of(p[2], p[3]), ipv4Of(~p[6] & 0xffff, ~p[7] & 0xffff)];
    case 'unicast':
      // ::a.b.c.d, IPv4-compatible (deprecated by RFC 4291); ipaddr.js calls it unicast.
      return p.slice(0, 6).every((x) => x === 0) ? [ipv4Of(p[6], p[7])] : undefined;
    default:
      return undefined;
  }
}

/**
 * Whether a resolved address may be connected to: public unicast, or explicitly allowed. An IPv6
 * address that carries an IPv4 one (mapped, compatible, NAT64, 6to4, Teredo) is judged by the IPv4
 * hosts it reaches, so `[::127.0.0.1]` is loopback and `[64:ff9b::10.0.0.1]` is private.
 */
export function addressAllowed(address: string, policy: DestinationPolicy): boolean {
  if (!ipaddr.isValid(address)) return false;
  if (policy.allowPrivate) return true;
  const ip = ipaddr.parse(address);
  if (listed(ip, policy)) return true;
  const carried = ip.kind() === 'ipv6' ? carriedIPv4(ip as ipaddr.IPv6) : undefined;
  if (carried) return carried.every((v4) => listed(v4, policy) || v4.range() === 'unicast');
  return ip.range() === 'unicast';
}

function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
}

/** Syntax rules of a destination URL; returns the reason it is refused, or undefined. */
export function urlProblem(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not an absolute URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must use http or https';
  if (url.username || url.password) return 'must not carry credentials';
  if (!url.hostname) return 'has no host';
  return undefined;
}

/**
 * Resolves the URL's host and refuses it when any address it resolves to is not allowed. Used at
 * registration time; the connection itself is checked again by `guardedLookup`.
 */
export async function checkDestination(raw: string, policy: DestinationPolicy): Promise<void> {
  const problem = urlProblem(raw);
  if (problem) throw new DestinationRefused(`URL ${problem}`);
  const host = hostOf(new URL(raw));
  if (policy.hosts.has(host)) return;
  const addresses = isIP(host) ? [host] : await resolveAll(host);
  const bad = addresses.find((a) => !addressAllowed(a, policy));
  if (bad !== undefined)
    throw new DestinationRefused(`host ${host} resolves to a non-public address (${bad})`);
}

function resolveAll(host: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    dnsLookup(host, { all: true }, (err, addresses) => {
      if (err) reject(new DestinationRefused(`host ${host} does not resolve (${err.code ?? err.message})`));
      else resolve(addresses.map((a) => a.address));
    });
  });
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** A `lookup` for http.request that only ever hands the socket allowed addresses. */
function guardedLookup(policy: DestinationPolicy) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const allowedHost = policy.hosts.has(hostname.toLowerCase());
      const bad = addresses.find((a) => !allowedHost && !addressAllowed(a.address, policy));
      if (bad) {
        return callback(
          new DestinationRefused(`host ${hostname} resolves to a non-public address (${bad.address})`),
          [],
        );
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };
}

export interface OutboundRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  timeoutMs: number;
  /** Ends the exchange early; it then rejects with the signal's reason (an AbortError). */
  signal?: AbortSignal;
  /** Redirects followed; each hop is checked like the first URL. */
  maxRedirects?: number;
  /** Bytes of the response body kept (the rest is read and dropped). */
  maxResponseBytes?: number;
  /** A body longer than maxResponseBytes fails the exchange instead of being cut (a caller that parses it). */
  refuseLongerBodies?: boolean;
}

export interface OutboundResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The body as received (`body` is its UTF-8 reading). */
  bytes: Buffer;
  /** The URL that answered, after redirects. */
  url: string;
  latencyMs: number;
}

export class OutboundNetworkError extends Error {
  override name = 'OutboundNetworkError';
  constructor(
    message: string,
    readonly latencyMs: number,
  ) {
    super(message);
  }
}

/**
 * One HTTP exchange under the destination rules. Throws DestinationRefused for a refused host or
 * redirect, OutboundNetworkError for connection failures and timeouts; any HTTP status is a response.
 */
export async function guardedRequest(
  req: OutboundRequest,
  policy: DestinationPolicy,
): Promise<OutboundResponse> {
  const started = performance.now();
  let url = req.url;
  let method = req.method;
  let body = req.body;
  for (let hop = 0; ; hop++) {
    const problem = urlProblem(url);
    if (problem) throw new DestinationRefused(`URL ${problem}`);
    const parsed = new URL(url);
    const host = hostOf(parsed);
    if (isIP(host) && !policy.hosts.has(host) && !addressAllowed(host, policy)) {
      throw new DestinationRefused(
        `${hop === 0 ? 'destination' : 'redirect target'} ${host} is not a public address`,
      );
    }
    let res: OutboundResponse;
    try {
      // Each hop is a client span of its own, carrying the trace to the receiver (platform/tracing.ts).
      res = await traceOutbound(method, parsed, (trace) =>
        exchange(parsed, method, body, req, policy, trace),
      );
    } catch (err) {
      if (req.signal?.aborted) throw req.signal.reason ?? err;
      if (err instanceof DestinationRefused) {
        throw new DestinationRefused(hop === 0 ? err.message : `redirect refused: ${err.message}`);
      }
      throw new OutboundNetworkError(
        err instanceof Error ? err.message : String(err),
        performance.now() - started,
      );
    }
    const location = res.headers.location;
    if (res.status >= 300 && res.status < 400 && location && res.status !== 304) {
      if (hop >= (req.maxRedirects ?? 0)) return { ...res, latencyMs: performance.now() - started };
      url = new URL(location, url).toString();
      // 303 turns the request into a GET; 301/302/307/308 keep a webhook's POST and body (as curl --post301).
      if (res.status === 303) {
        method = 'GET';
        body = undefined;
      }
      continue;
    }
    return { ...res, latencyMs: performance.now() - started };
  }
}

function exchange(
  url: URL,
  method: string,
  body: string | Buffer | undefined,
  req: OutboundRequest,
  policy: DestinationPolicy,
  traceHeaders: Record<string, string>,
): Promise<OutboundResponse> {
  const lib = url.protocol === 'https:' ? https : http;
  const { timeoutMs } = req;
  const maxBytes = req.maxResponseBytes ?? 65_536;
  return new Promise((resolve, reject) => {
    const request = lib.request(
      url,
      {
        method,
        headers: {
          ...req.headers,
          ...traceHeaders,
          ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}),
        },
        lookup: guardedLookup(policy),
        timeout: timeoutMs,
        agent: false,
        ...(req.signal ? { signal: req.signal } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        res.on('data', (chunk: Buffer) => {
          if (req.refuseLongerBodies && kept + chunk.length > maxBytes) {
            request.destroy(new Error(`response body longer than ${maxBytes} bytes`));
            return;
          }
          if (kept < maxBytes) {
            chunks.push(chunk.subarray(0, maxBytes - kept));
            kept += Math.min(chunk.length, maxBytes - kept);
          }
        });
        res.on('end', () => {
          const bytes = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: bytes.toString('utf8'),
            bytes,
            url: url.toString(),
            latencyMs: 0,
          });
        });
        res.on('error', reject);
      },
    );
    const deadline = setTimeout(
      () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    request.on('close', () => clearTimeout(deadline));
    request.on('timeout', () => request.destroy(new Error(`socket idle for ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end(body);
  });
}

const METHODS = new Set<string>(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
/** Statuses whose response has no body (the Response constructor refuses one). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * A `fetch` for clients that take one (the Anthropic SDK): every exchange goes through
 * `guardedRequest`, so the address is checked when the socket connects and a redirect is handed back
 * as the 3xx it is, never followed (as `redirect: 'manual'`). A refused destination rejects with
 * DestinationRefused, a network failure with OutboundNetworkError; an abort with the signal's reason.
 * The body is read whole, up to `maxResponseBytes` (longer fails), and sent without compression.
 */
export function guardedFetch(
  policy: DestinationPolicy,
  opts: { timeoutMs: number; maxResponseBytes: number },
): (input: string | URL | Request, init?: RequestInit) => Promise<Response> {
  return async (input, init) => {
    const request = new Request(input, init);
    if (!METHODS.has(request.method)) throw new TypeError(`method ${request.method} is not supported`);
    const headers = Object.fromEntries(request.headers);
    delete headers['accept-encoding']; // node:http does not decompress: ask for the body as it is
    const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
    const res = await guardedRequest(
      {
        method: request.method as OutboundRequest['method'],
        url: request.url,
        headers,
        ...(body !== undefined ? { body } : {}),
        timeoutMs: opts.timeoutMs,
        maxResponseBytes: opts.maxResponseBytes,
        refuseLongerBodies: true,
        signal: request.signal,
      },
      policy,
    );
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(res.headers)) {
      for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value])
        responseHeaders.append(name, v);
    }
    return new Response(NULL_BODY.has(res.status) ? null : res.bytes, {
      status: res.status,
      headers: responseHeaders,
    });
  };
}
