/**
 * createApp(deps): the REST API as a Hono app over injected dependencies. Every route is declared with
 * @hono/zod-openapi, so /openapi.json is the contract and validation answers problem+json.
 */
import { randomUUID } from 'node:crypto';
import { Scalar } from '@scalar/hono-api-reference';
import { bodyLimit } from 'hono/body-limit';
import { secureHeaders } from 'hono/secure-headers';
import { timeout } from 'hono/timeout';
import { routePath } from 'hono/route';
import { AppError } from '../domain/errors';
import { errorHandler, problem } from './lib/problem';
import { createRouter } from './lib/router';
import type { ApiDeps } from './lib/types';
import { analysisRouter } from './routes/analysis/analysis.index';
import { healthRouter } from './routes/health/health.index';
import { optimizationsRouter } from './routes/optimizations/optimizations.index';
import { targetsRouter } from './routes/targets/targets.index';
import { webhooksRouter } from './routes/webhooks/webhooks.index';
import { integrationsRouter } from './routes/integrations/integrations.index';
import { slackRouter } from './routes/slack/slack.index';
import { githubRouter } from './routes/github/github.index';
import { installSecurity } from './middleware/security';
import { apiKeysRouter } from './routes/api-keys/api-keys.index';
import { auditRouter } from './routes/audit/audit.index';
import { eventsRouter } from './routes/events/events.index';
import { tracesRouter } from './routes/traces/traces.index';
import { metricsQueryRouter } from './routes/metrics-query/metrics-query.index';
import { pricesRouter } from './routes/prices/prices.index';
import { rolloutsRouter } from './routes/rollouts/rollouts.index';
import { decisionsRouter } from './routes/decisions/decisions.index';
import { schedulesRouter } from './routes/schedules/schedules.index';

export const API_VERSION = '0.1.0';

export function createApp(deps: ApiDeps) {
  const app = createRouter();
  const { metrics } = deps;

  app.use('*', async (c, next) => {
    const incoming = c.req.header('x-request-id');
    const requestId = incoming && /^[\w.-]{1,128}$/.test(incoming) ? incoming : randomUUID();
    c.set('requestId', requestId);
    c.set('logger', deps.logger.child({ requestId }));
    const started = performance.now();
    await next();
    c.header('x-request-id', requestId);
    const route = routePath(c) || 'unmatched';
    const seconds = (performance.now() - started) / 1000;
    metrics.httpRequests.inc({ method: c.req.method, route, status: String(c.res.status) });
    metrics.httpDuration.observe({ method: c.req.method, route }, seconds);
    if (c.res.status >= 500)
      c.get('logger').warn(
        { method: c.req.method, path: c.req.path, status: c.res.status },
        'request failed',
      );
  });
  app.use('*', secureHeaders({ crossOriginResourcePolicy: 'same-origin' }));
  app.use('*', (c, next) =>
    bodyLimit({
      maxSize: deps.env.API_MAX_BODY_BYTES,
      onError: (ctx) =>
        problem(ctx, 'payload_too_large', `request body exceeds ${deps.env.API_MAX_BODY_BYTES} bytes`),
    })(c, next),
  );
  app.use('/v1/*', (c, next) =>
    timeout(
      deps.env.API_REQUEST_TIMEOUT_MS,
      () =>
        new AppError('timeout', `request took longer than ${deps.env.API_REQUEST_TIMEOUT_MS} ms`) as never,
    )(c, next),
  );
  // Authentication, rate limits, authorization (api/lib/permissions.ts), audit and idempotency.
  const security = installSecurity(app, deps);

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
  app.route('/', metricsQueryRouter(deps));
  app.route('/', pricesRouter(deps));
  app.route('/', rolloutsRouter(deps));
  app.route('/', decisionsRouter(deps));
  app.route('/', schedulesRouter(deps));
  app.route('/', analysisRouter(deps));

  app.doc31('/openapi.json', {
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
  });
  app.get('/docs', Scalar({ url: '/openapi.json', pageTitle: 'LLM Auto-Optimizer API' }));

  app.notFound((c) => problem(c, 'not_found', `no route for ${c.req.method} ${c.req.path}`));
  app.onError(errorHandler(deps.logger));
  return app;
}

export type App = ReturnType<typeof createApp>;
