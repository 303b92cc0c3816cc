/**
 * createApp(deps): the REST API as a Hono app over the process's container (app/compose.ts). Every route
 * is declared with @hono/zod-openapi, so /openapi.json is the contract and validation answers
 * problem+json. The app it returns carries what the servers in front of it share with it: the security
 * services (the gRPC server, the config read's fast path) and the request instruments.
 */
import { bodyLimit } from 'hono/body-limit';
import { timeout } from 'hono/timeout';
import { routePath } from 'hono/route';
import { AppError } from '../domain/errors';
import { errorHandler, problem } from './lib/problem';
import { createRouter } from './lib/router';
import type { ApiDeps } from './lib/types';
import { applyCommonHeaders, requestIdOf } from './lib/headers';
import { requestInstruments, type RequestInstruments } from './lib/request-metrics';
import { documentIdempotencyKey } from './middleware/idempotency';
import type { Logger } from '../platform/logger';
import { analysisRouter } from './routes/analysis/analysis.index';
import { healthRouter } from './routes/health/health.index';
import { optimizationsRouter } from './routes/optimizations/optimizations.index';
import { targetsRouter } from './routes/targets/targets.index';
import { webhooksRouter } from './routes/webhooks/webhooks.index';
import { integrationsRouter } from './routes/integrations/integrations.index';
import { slackRouter } from './routes/slack/slack.index';
import { githubRouter } from './routes/github/github.index';
import { installSecurity, type Security } from './middleware/security';
import { storableBody, storableUrl } from './middleware/storable-text';
import { apiKeysRouter } from './routes/api-keys/api-keys.index';
import { auditRouter } from './routes/audit/audit.index';
import { eventsRouter } from './routes/events/events.index';
import { tracesRouter } from './routes/traces/traces.index';
import { deadLettersRouter } from './routes/dead-letters/dead-letters.index';
import { metricsQueryRouter } from './routes/metrics-query/metrics-query.index';
import { pricesRouter } from './routes/prices/prices.index';
import { rolloutsRouter } from './routes/rollouts/rollouts.index';
import { decisionsRouter } from './routes/decisions/decisions.index';
import { promptProposalsRouter } from './routes/prompt-proposals/prompt-proposals.index';
import { schedulesRouter } from './routes/schedules/schedules.index';
import { docsRouter } from './routes/docs/docs.index';
import { adminRouter } from './routes/admin/admin.index';
import { meRouter } from './routes/me/me.index';
import { providersRouter } from './routes/providers/providers.index';
import { gatewayRouter } from './routes/gateway/gateway.index';

export const API_VERSION = '0.1.0';

const BODYLESS = new Set(['GET', 'HEAD']);

/** A middleware built from one setting, rebuilt only when the setting changes (env reload). */
function perSetting<S, M>(read: () => S, build: (setting: S) => M): () => M {
  let setting = read();
  let built = build(setting);
  return () => {
    const now = read();
    if (now !== setting) {
      setting = now;
      built = build(now);
    }
    return built;
  };
}

/** A logger whose child (with `bindings`) is created the first time something is logged through it. */
function lazyChild(logger: Logger, bindings: Record<string, unknown>): Logger {
  let child: Logger | undefined;
  return new Proxy(logger, {
    get(_, prop) {
      child ??= logger.child(bindings);
      const v = Reflect.get(child, prop, child) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(child) : v;
    },
  });
}

/** What createApp built, beside the routes: api/server.ts and api/grpc/server.ts serve with these. */
export interface AppServices {
  readonly deps: ApiDeps;
  readonly security: Security;
  readonly instruments: RequestInstruments;
}

export function createApp(deps: ApiDeps) {
  const app = createRouter();
  const { metrics } = deps;

  const instruments = requestInstruments(metrics);
  // Outermost: request id, the common response headers (api/lib/headers.ts), metrics, and one log line
  // for failures. Per request it allocates no logger: the child with the request id is made on first use.
  app.use('*', async (c, next) => {
    const requestId = requestIdOf(c.req.header('x-request-id'));
    c.set('requestId', requestId);
    c.set('logger', lazyChild(deps.logger, { requestId }));
    const started = performance.now();
    await next();
    const res = c.res;
    applyCommonHeaders(c, res);
    instruments.observe(c.req.method, routePath(c) || 'unmatched', res.status, performance.now() - started);
    if (res.status >= 500)
      c.get('logger').warn({ method: c.req.method, path: c.req.path, status: res.status }, 'request failed');
  });
  // Body limit and timeout follow the env, which a reload may change: rebuilt when it does, not per request.
  const limitBody = perSetting(
    () => deps.env.API_MAX_BODY_BYTES,
    (maxSize) =>
      bodyLimit({
        maxSize,
        onError: (ctx) => problem(ctx, 'payload_too_large', `request body exceeds ${maxSize} bytes`),
      }),
  );
  // GET and HEAD carry no body (@hono/node-server never reads one), and looking would build the request.
  app.use('*', (c, next) => (BODYLESS.has(c.req.method) ? next() : limitBody()(c, next)));
  const limitTime = perSetting(
    () => deps.env.API_REQUEST_TIMEOUT_MS,
    (ms) => timeout(ms, () => new AppError('timeout', `request took longer than ${ms} ms`) as never),
  );
  app.use('/v1/*', (c, next) => limitTime()(c, next));
  // NUL and lone surrogates in a path, query or body: 422 naming the field (api/middleware/storable-text.ts).
  app.use('/v1/*', storableUrl());
  // Authentication, rate limits, authorization (api/lib/permissions.ts), audit and idempotency.
  const security = installSecurity(app, deps);
  app.use('/v1/*', storableBody());

  app.route('/', healthRouter(deps));
  app.route('/', targetsRouter(deps));
  app.route('/', optimizationsRouter(deps));
  app.route('/', webhooksRouter(deps));
  app.route('/', integrationsRouter(deps));
  app.route('/', slackRouter(deps));
  app.route('/', githubRouter(deps));
  app.route('/', apiKeysRouter(deps, security));
  app.route('/', auditRouter(deps, security));
  app.route('/', eventsRouter(deps));
  app.route('/', tracesRouter(deps));
  app.route('/', deadLettersRouter(deps));
  app.route('/', metricsQueryRouter(deps));
  app.route('/', pricesRouter(deps));
  app.route('/', rolloutsRouter(deps));
  app.route('/', decisionsRouter(deps));
  app.route('/', promptProposalsRouter(deps));
  app.route('/', schedulesRouter(deps));
  app.route('/', analysisRouter(deps));
  app.route('/', adminRouter(deps));
  app.route('/', meRouter());
  app.route('/', providersRouter(deps));
  app.route('/', gatewayRouter(deps));

  // Generated once (the routes are fixed by now), with Idempotency-Key on every POST that starts work.
  let document: ReturnType<typeof app.getOpenAPI31Document> | undefined;
  const documentConfig: Parameters<typeof app.getOpenAPI31Document>[0] = {
    openapi: '3.1.0',
    info: {
      title: 'LLM Auto-Optimizer API',
      version: API_VERSION,
      description:
        'Telemetry in, safely rolled-out routing decisions out. Every error is application/problem+json (RFC 9457).',
    },
    servers: [{ url: '/' }],
    // Every route needs one of these except /healthz and /readyz (and /docs, /metrics when configured public).
    security: [{ bearerAuth: [] }, { apiKeyHeader: [] }],
  };
  app.get('/openapi.json', (c) => {
    document ??= documentIdempotencyKey(
      app.getOpenAPI31Document(documentConfig),
      (method, path) => security.match(method, path)?.rule.startsWork === true,
    );
    return c.json(document);
  });
  app.route('/', docsRouter());

  app.notFound((c) => problem(c, 'not_found', `no route for ${c.req.method} ${c.req.path}`));
  app.onError(errorHandler(deps.logger));
  const services: AppServices = { deps, security, instruments };
  return Object.assign(app, services);
}

export type App = ReturnType<typeof createApp>;
