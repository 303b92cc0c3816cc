/**
 * Roles, permissions and the one table that maps every route (method + OpenAPI path template) to the
 * permission it needs. A route missing from the table is denied to everyone, admin included, and
 * tests/api-security/permissions.test.ts fails naming it: a new route is closed until someone decides
 * who may call it.
 */
export const ROLES = ['admin', 'operator', 'analyst', 'ingest'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = [
  'targets:read',
  'targets:write',
  'config:read',
  'config:write',
  'prices:read',
  'prices:write',
  'events:ingest',
  'metrics:read',
  'analysis:read',
  'decisions:read',
  'decisions:approve',
  'optimizations:read',
  'optimizations:trigger',
  'rollouts:read',
  'rollouts:manage',
  'schedules:read',
  'schedules:write',
  'webhooks:read',
  'webhooks:write',
  'api_keys:manage',
  'audit:read',
  'dead_letters:read',
  'dead_letters:replay',
  'system:metrics',
  'system:docs',
  'providers:manage',
  'gateway:invoke',
  /** Operating the whole installation: its figures, flushing every cache (admins only). */
  'system:admin',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const READS = PERMISSIONS.filter((p) => p.endsWith(':read'));

export const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  /** Everything, including API keys. */
  admin: PERMISSIONS,
  /** Runs the optimizer day to day: changes targets and configs, decides, steers rollouts. */
  // Providers hold credentials of the company's LLM accounts and may point at private addresses: admins only.
  operator: PERMISSIONS.filter(
    (p) => p !== 'api_keys:manage' && p !== 'providers:manage' && p !== 'system:admin',
  ),
  /** Reads everything except the audit log; changes nothing. */
  analyst: [
    // Dead letters hold whole payloads (feedback comments, attributes): operators' business.
    ...READS.filter((p) => p !== 'audit:read' && p !== 'dead_letters:read'),
    'system:metrics',
    'system:docs',
  ],
  /** Applications: send telemetry, read the routing config they serve from, call LLMs through the gateway. */
  ingest: ['events:ingest', 'config:read', 'system:docs', 'gateway:invoke'],
};

/**
 * `public` routes need no identity; `docs`/`metrics` are public when API_PUBLIC_DOCS/_METRICS say so;
 * `authenticated` routes need an identity, whatever its roles (the caller's own identity).
 */
export type Access = Permission | 'public' | 'authenticated';

export interface RouteRule {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** OpenAPI path template; a trailing `/**` covers every path below (a resource family). */
  path: string;
  access: Access;
  /** A POST that starts work: an Idempotency-Key header makes a repeat return the first result. */
  startsWork?: boolean;
}

const r = (method: RouteRule['method'], path: string, access: Access, startsWork = false): RouteRule => ({
  method,
  path,
  access,
  ...(startsWork ? { startsWork } : {}),
});

const T = '/v1/targets/{target}';

export const ROUTE_RULES: readonly RouteRule[] = [
  r('GET', '/healthz', 'public'),
  r('GET', '/readyz', 'public'),
  r('GET', '/metrics', 'system:metrics'),
  r('GET', '/openapi.json', 'system:docs'),
  r('GET', '/docs', 'system:docs'),
  r('GET', '/docs/assets/scalar.js', 'system:docs'),

  r('GET', '/v1/targets', 'targets:read'),
  r('POST', '/v1/targets', 'targets:write', true),
  r('GET', T, 'targets:read'),
  r('PATCH', T, 'targets:write'),
  r('DELETE', T, 'targets:write'),
  r('GET', `${T}/segments`, 'targets:read'),
  r('POST', `${T}/segments`, 'targets:write', true),
  r('GET', `${T}/segments/{segment}`, 'targets:read'),
  r('DELETE', `${T}/segments/{segment}`, 'targets:write'),
  r('GET', `${T}/arms`, 'targets:read'),
  r('POST', `${T}/arms`, 'targets:write', true),
  r('GET', `${T}/arms/{arm}`, 'targets:read'),
  r('PATCH', `${T}/arms/{arm}`, 'targets:write'),
  r('DELETE', `${T}/arms/{arm}`, 'targets:write'),

  r('GET', `${T}/config`, 'config:read'),
  r('PUT', `${T}/config`, 'config:write'),
  r('GET', `${T}/config/history`, 'config:read'),
  r('GET', `${T}/config/versions/{version}`, 'config:read'),

  r('GET', `${T}/metrics`, 'metrics:read'),
  r('GET', `${T}/metrics/**`, 'metrics:read'),
  r('GET', `${T}/analysis`, 'analysis:read'),
  r('GET', `${T}/analysis/**`, 'analysis:read'),
  r('GET', `${T}/schedule`, 'schedules:read'),
  r('PUT', `${T}/schedule`, 'schedules:write'),
  r('DELETE', `${T}/schedule`, 'schedules:write'),

  r('POST', '/v1/events', 'events:ingest'),
  r('POST', '/v1/events/**', 'events:ingest'),
  r('POST', '/v1/traces', 'events:ingest'),
  r('GET', '/v1/ingest/dead-letters', 'dead_letters:read'),
  r('POST', '/v1/ingest/dead-letters/{id}/replay', 'dead_letters:replay'),

  r('GET', '/v1/prices', 'prices:read'),
  r('GET', '/v1/prices/**', 'prices:read'),
  r('POST', '/v1/prices', 'prices:write'),
  r('PUT', '/v1/prices', 'prices:write'),
  r('PUT', '/v1/prices/**', 'prices:write'),
  r('PATCH', '/v1/prices/**', 'prices:write'),
  r('DELETE', '/v1/prices/**', 'prices:write'),

  r('GET', '/v1/decisions', 'decisions:read'),
  r('GET', '/v1/decisions/**', 'decisions:read'),
  r('POST', '/v1/decisions/{id}/approve', 'decisions:approve', true),
  r('POST', '/v1/decisions/{id}/reject', 'decisions:approve', true),
  r('GET', `${T}/prompt-proposals`, 'decisions:read'),
  r('POST', '/v1/prompt-proposals/{id}/approve', 'decisions:approve'),
  r('POST', '/v1/prompt-proposals/{id}/reject', 'decisions:approve'),

  r('POST', '/v1/optimizations', 'optimizations:trigger', true),
  // Who may start cycles may stop them.
  r('POST', '/v1/optimizations/{id}/cancel', 'optimizations:trigger', true),
  r('GET', '/v1/optimizations', 'optimizations:read'),
  r('GET', '/v1/optimizations/**', 'optimizations:read'),

  r('GET', '/v1/rollouts', 'rollouts:read'),
  r('GET', '/v1/rollouts/**', 'rollouts:read'),
  r('POST', '/v1/rollouts/{id}/pause', 'rollouts:manage', true),
  r('POST', '/v1/rollouts/{id}/resume', 'rollouts:manage', true),
  r('POST', '/v1/rollouts/{id}/abort', 'rollouts:manage', true),
  r('POST', '/v1/rollouts/{id}/approve', 'rollouts:manage', true),
  r('POST', '/v1/rollouts/{id}/revert', 'rollouts:manage', true),

  r('GET', '/v1/schedules', 'schedules:read'),
  r('GET', '/v1/schedules/**', 'schedules:read'),

  r('GET', '/v1/webhooks', 'webhooks:read'),
  r('GET', '/v1/webhooks/**', 'webhooks:read'),
  r('POST', '/v1/webhooks', 'webhooks:write'),
  // Not "starts work": the answer carries the new secret, which must not be kept for replays.
  r('POST', '/v1/webhooks/{id}/rotate-secret', 'webhooks:write'),
  r('POST', '/v1/webhooks/{id}/deliveries/{delivery}/redeliver', 'webhooks:write', true),
  r('POST', '/v1/webhooks/**', 'webhooks:write'),
  r('PUT', '/v1/webhooks/**', 'webhooks:write'),
  r('PATCH', '/v1/webhooks/**', 'webhooks:write'),
  r('DELETE', '/v1/webhooks/**', 'webhooks:write'),
  // Integration settings hold secrets of outbound notifications: the same trust as webhooks.
  r('GET', '/v1/integrations', 'webhooks:read'),
  r('GET', '/v1/integrations/{kind}', 'webhooks:read'),
  r('PUT', '/v1/integrations/{kind}', 'webhooks:write'),
  r('DELETE', '/v1/integrations/{kind}', 'webhooks:write'),
  // A test message goes where notifications go, with their secrets: who may configure may test.
  r('POST', '/v1/integrations/{kind}/test', 'webhooks:write'),
  // Callers authenticated by their own signatures (Slack v0, X-Hub-Signature-256), checked by the handler.
  r('POST', '/v1/slack/commands', 'public'),
  r('POST', '/v1/github/webhooks', 'public'),

  r('GET', '/v1/api-keys', 'api_keys:manage'),
  r('POST', '/v1/api-keys', 'api_keys:manage'),
  r('GET', '/v1/api-keys/{id}', 'api_keys:manage'),
  r('DELETE', '/v1/api-keys/{id}', 'api_keys:manage'),

  r('GET', '/v1/audit', 'audit:read'),

  r('GET', '/v1/me', 'authenticated'),
  r('GET', '/v1/admin/stats', 'system:admin'),
  r('POST', '/v1/admin/cache/flush', 'system:admin'),

  r('GET', '/v1/providers', 'providers:manage'),
  r('GET', '/v1/providers/{name}', 'providers:manage'),
  r('PUT', '/v1/providers/{name}', 'providers:manage'),
  r('DELETE', '/v1/providers/{name}', 'providers:manage'),

  // The gateway speaks the providers' wire formats under their own paths.
  r('POST', '/gateway/openai/v1/chat/completions', 'gateway:invoke'),
  r('GET', '/gateway/openai/v1/models', 'gateway:invoke'),
  r('POST', '/gateway/anthropic/v1/messages', 'gateway:invoke'),
];

export interface MatchedRule {
  rule: RouteRule;
  params: Record<string, string>;
}

interface Compiled {
  rule: RouteRule;
  regex: RegExp;
  names: string[];
  /** Lower sorts first: exact templates before families, fewer parameters before more. */
  rank: number;
}

function compile(rule: RouteRule): Compiled {
  const family = rule.path.endsWith('/**');
  const base = family ? rule.path.slice(0, -3) : rule.path;
  const names: string[] = [];
  const source = base
    .split('/')
    .map((seg) => {
      const m = /^\{(\w+)\}$/.exec(seg);
      if (m) {
        names.push(m[1]!);
        return '([^/]+)';
      }
      return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return {
    rule,
    // `[^]`, not `.`: a decoded path may hold a newline, and a family covers whatever lies below it.
    regex: new RegExp(`^${source}${family ? '/[^]+' : ''}$`),
    names,
    rank: (family ? 1000 : 0) + names.length * 10 - base.split('/').length,
  };
}

/** Looks a request up in a rule table; exact templates win over families. */
export function createRuleMatcher(rules: readonly RouteRule[] = ROUTE_RULES) {
  const byMethod = new Map<string, Compiled[]>();
  for (const rule of rules) {
    const list = byMethod.get(rule.method) ?? [];
    list.push(compile(rule));
    byMethod.set(rule.method, list);
  }
  for (const list of byMethod.values()) list.sort((a, b) => a.rank - b.rank);
  return (method: string, path: string): MatchedRule | undefined => {
    const list = byMethod.get(method === 'HEAD' ? 'GET' : method);
    if (!list) return undefined;
    for (const c of list) {
      const m = c.regex.exec(path);
      if (m) return { rule: c.rule, params: Object.fromEntries(c.names.map((n, i) => [n, m[i + 1]!])) };
    }
    return undefined;
  };
}

export function rolesGrant(roles: readonly Role[], permission: Permission): boolean {
  return roles.some((role) => ROLE_PERMISSIONS[role].includes(permission));
}

export function isRole(v: unknown): v is Role {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}

/** Who is calling: resolved once per request (REST) or call (gRPC) by the authenticator. */
export interface Identity {
  kind: 'api_key' | 'jwt' | 'anonymous';
  /** Stable id for limits, audit and idempotency: `key:<prefix>`, `jwt:<iss>|<sub>`, `ip:<address>`. */
  id: string;
  /** Human-readable actor for the audit log: the key's name or the token's subject. */
  actor: string;
  roles: Role[];
}

/** gRPC methods (full path) to permissions; a method missing here is denied like a REST route. */
export const GRPC_METHOD_RULES: Record<string, Permission> = {
  '/llmopt.v1.IngestService/IngestBatch': 'events:ingest',
  '/llmopt.v1.IngestService/IngestStream': 'events:ingest',
  '/llmopt.v1.OptimizationService/Trigger': 'optimizations:trigger',
  '/llmopt.v1.OptimizationService/Get': 'optimizations:read',
  '/llmopt.v1.OptimizationService/List': 'optimizations:read',
  '/llmopt.v1.OptimizationService/Cancel': 'optimizations:trigger',
  '/llmopt.v1.OptimizationService/WatchDecisions': 'decisions:read',
  '/llmopt.v1.RolloutService/List': 'rollouts:read',
  '/llmopt.v1.RolloutService/Get': 'rollouts:read',
  '/llmopt.v1.RolloutService/Watch': 'rollouts:read',
  '/llmopt.v1.RolloutService/Pause': 'rollouts:manage',
  '/llmopt.v1.RolloutService/Resume': 'rollouts:manage',
  '/llmopt.v1.RolloutService/Abort': 'rollouts:manage',
  '/llmopt.v1.RolloutService/Approve': 'rollouts:manage',
  '/llmopt.v1.RolloutService/Revert': 'rollouts:manage',
  '/llmopt.v1.ConfigService/GetRoutingConfig': 'config:read',
  '/llmopt.v1.ConfigService/WatchRoutingConfig': 'config:read',
};
