/**
 * The permission table covers every route, and the guard enforces it on every route: 401 without a
 * credential, 403 for a role without the permission, and the identity passes to validation (4xx naming
 * the field) when it has it. Table-driven over the routes the app actually serves.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRuleMatcher,
  ROLE_PERMISSIONS,
  ROLES,
  ROUTE_RULES,
  type Permission,
  type Role,
} from '../../api/lib/permissions';
import { testEnv } from '../helpers/env';
import { call, startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
const keys = {} as Record<Role, string>;
beforeAll(async () => {
  sys = await startTestSystem({ workers: false });
  for (const role of ROLES) keys[role] = await sys.keyFor(role);
});
afterAll(async () => {
  await sys?.stop();
});

const match = createRuleMatcher();
const templateOf = (honoPath: string) => honoPath.replace(/:(\w+)/g, '{$1}');
/** A concrete path for a template: every parameter becomes a harmless valid slug. */
const concrete = (template: string) =>
  template.replace(/\{(\w+)\}/g, (_, name: string) =>
    name === 'version' ? '1' : name === 'id' ? '00000000-0000-4000-8000-000000000000' : 'probe-x',
  );

function servedRoutes() {
  const seen = new Set<string>();
  const out: { method: string; template: string }[] = [];
  for (const r of sys.app.routes) {
    if (r.method === 'ALL' || r.path.includes('*')) continue;
    const template = templateOf(r.path);
    const k = `${r.method} ${template}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ method: r.method, template });
  }
  return out;
}

function guarded() {
  return servedRoutes()
    .map((r) => ({ ...r, access: match(r.method, concrete(r.template))?.rule.access }))
    .filter(
      (r): r is typeof r & { access: Permission } =>
        r.access !== undefined &&
        r.access !== 'public' &&
        r.access !== 'authenticated' &&
        r.access !== 'system:docs' &&
        r.access !== 'system:metrics',
    );
}

describe('the permission table', () => {
  it('has an entry for every route the API serves (a missing route is denied to everyone)', () => {
    const missing = servedRoutes()
      .filter((r) => !match(r.method, concrete(r.template)))
      .map((r) => `${r.method} ${r.template}`);
    expect(missing, `add these routes to api/lib/permissions.ts ROUTE_RULES: ${missing.join(', ')}`).toEqual(
      [],
    );
  });

  it('documents every route of /openapi.json and names only known permissions', async () => {
    const doc = await call(sys, 'GET', '/openapi.json');
    for (const [path, ops] of Object.entries(doc.body.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(ops))
        expect(match(method.toUpperCase(), concrete(path)), `${method} ${path}`).toBeDefined();
    }
    for (const rule of ROUTE_RULES)
      expect(
        rule.access === 'public' ||
          rule.access === 'authenticated' ||
          Object.values(ROLE_PERMISSIONS).some((p) => p.includes(rule.access as Permission)),
      ).toBe(true);
  });

  it('covers every path below a family, newlines included (never "no entry in the permission table")', () => {
    const match = createRuleMatcher();
    expect(match('GET', '/v1/prices/a\nb')?.rule.access).toBe('prices:read');
    expect(match('GET', '/v1/targets/t/metrics/x\ny')?.rule.access).toBe('metrics:read');
  });

  it('gives admin every permission and keeps api keys admin-only', () => {
    expect(ROLE_PERMISSIONS.admin).toContain('api_keys:manage');
    for (const role of ['operator', 'analyst', 'ingest'] as const)
      expect(ROLE_PERMISSIONS[role]).not.toContain('api_keys:manage');
    expect(ROLE_PERMISSIONS.analyst.filter((p) => !p.endsWith(':read') && !p.startsWith('system:'))).toEqual(
      [],
    );
  });
});

describe('every guarded route', () => {
  it('answers 401 problem+json without credentials', async () => {
    const routes = guarded();
    expect(routes.length).toBeGreaterThan(20);
    for (const r of routes) {
      const res = await call(
        sys,
        r.method,
        concrete(r.template),
        r.method === 'GET' || r.method === 'DELETE' ? undefined : {},
        {},
        { auth: false },
      );
      expect(res.status, `${r.method} ${r.template}`).toBe(401);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.headers.get('www-authenticate')).toContain('Bearer');
    }
  });

  it('answers 403 naming the permission to each role that lacks it', async () => {
    let checked = 0;
    for (const r of guarded()) {
      for (const role of ROLES.filter((x) => !ROLE_PERMISSIONS[x].includes(r.access))) {
        const res = await call(
          sys,
          r.method,
          concrete(r.template),
          r.method === 'GET' || r.method === 'DELETE' ? undefined : {},
          {},
          { auth: keys[role] },
        );
        expect(res.status, `${role} ${r.method} ${r.template}`).toBe(403);
        expect(res.body.detail).toContain(r.access);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(20);
  });

  it('lets a role with the permission through to validation, which names the bad field (never a 5xx)', async () => {
    for (const r of guarded().filter(
      (x) => x.template.includes('{') || !['GET', 'DELETE'].includes(x.method),
    )) {
      const role = ROLES.find((x) => ROLE_PERMISSIONS[x].includes(r.access) && x !== 'admin') ?? 'admin';
      // A path parameter that tries to traverse, and a body of the wrong type.
      const path = concrete(r.template).replace('probe-x', '..%2F..%2Fetc%2Fpasswd');
      const hasBody = r.method === 'POST' || r.method === 'PUT' || r.method === 'PATCH';
      const res = await call(
        sys,
        r.method,
        path,
        hasBody ? '[1,2,3]' : undefined,
        hasBody ? { 'content-type': 'application/json', 'if-match': '"r1"' } : {},
        { auth: keys[role] },
      );
      expect(res.status, `${r.method} ${r.template}: ${JSON.stringify(res.body)}`).toBeGreaterThanOrEqual(
        400,
      );
      // A subsystem this in-process test system does not wire (e.g. ingest) may say so with a 503.
      if (res.status === 503 && /not configured/.test(res.body.detail)) continue;
      expect(res.status, `${r.method} ${r.template}`).toBeLessThan(500);
      expect([401, 403]).not.toContain(res.status);
      if (res.status === 400 || res.status === 422)
        expect(res.body.errors?.length ?? 0, `${r.method} ${r.template}`).toBeGreaterThan(0);
    }
  });
});

describe('routes for any authenticated caller', () => {
  const authenticated = () =>
    servedRoutes().filter((r) => match(r.method, concrete(r.template))?.rule.access === 'authenticated');

  it('answer every role, and 401 without a credential', async () => {
    expect(authenticated().map((r) => `${r.method} ${r.template}`)).toContain('GET /v1/me');
    for (const r of authenticated()) {
      const path = concrete(r.template);
      expect((await call(sys, r.method, path, undefined, {}, { auth: false })).status).toBe(401);
      for (const role of ROLES)
        expect((await call(sys, r.method, path, undefined, {}, { auth: keys[role] })).status, role).toBe(200);
    }
  });
});

describe('public routes', () => {
  it('serves health, readiness, docs and metrics without a credential as configured', async () => {
    expect((await call(sys, 'GET', '/healthz', undefined, {}, { auth: false })).status).toBe(200);
    expect((await call(sys, 'GET', '/readyz', undefined, {}, { auth: false })).status).toBe(200);
    expect((await call(sys, 'GET', '/openapi.json', undefined, {}, { auth: false })).status).toBe(
      testEnv.API_PUBLIC_DOCS ? 200 : 401,
    );
    expect((await call(sys, 'GET', '/metrics', undefined, {}, { auth: false })).status).toBe(
      testEnv.API_PUBLIC_METRICS ? 200 : 401,
    );
  });

  it('answers an unknown route 404 to a known identity and 401 to anyone else', async () => {
    expect((await call(sys, 'GET', '/v1/nothing-here')).status).toBe(404);
    expect((await call(sys, 'GET', '/v1/nothing-here', undefined, {}, { auth: false })).status).toBe(401);
  });
});
