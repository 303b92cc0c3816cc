/** Liveness, readiness (503 with the failing dependency) and Prometheus metrics of the API process. */
import { createRoute, z } from '@hono/zod-openapi';
import { collectMetrics, runReadiness } from '../../../platform/process';
import { createRouter } from '../../lib/router';
import { jsonResponse } from '../../lib/schemas';
import type { ApiDeps } from '../../lib/types';

const Readiness = z
  .object({
    status: z.enum(['ready', 'not_ready', 'stopping']),
    checks: z.array(z.object({ name: z.string(), ok: z.boolean(), reason: z.string().optional() })),
  })
  .openapi('Readiness');

const healthz = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['health'],
  summary: 'The process is alive',
  responses: { 200: jsonResponse(z.object({ status: z.literal('alive') }), 'Alive') },
});

const readyz = createRoute({
  method: 'get',
  path: '/readyz',
  tags: ['health'],
  summary: 'Every dependency answers (503 names the one that does not)',
  responses: {
    200: jsonResponse(Readiness, 'Ready'),
    503: jsonResponse(Readiness, 'Not ready, with the reason'),
  },
});

const metrics = createRoute({
  method: 'get',
  path: '/metrics',
  tags: ['health'],
  summary: 'Prometheus metrics of this process',
  responses: {
    200: { content: { 'text/plain': { schema: z.string() } }, description: 'Prometheus text format' },
  },
});

export function healthRouter(deps: ApiDeps) {
  return createRouter()
    .openapi(healthz, (c) => c.json({ status: 'alive' as const }, 200))
    .openapi(readyz, async (c) => {
      if (deps.isStopping?.()) return c.json({ status: 'stopping' as const, checks: [] }, 503);
      const r = await runReadiness(deps.checks, deps.metrics);
      return c.json(
        { status: r.ready ? ('ready' as const) : ('not_ready' as const), checks: r.checks },
        r.ready ? 200 : 503,
      );
    })
    .openapi(metrics, async (c) => {
      const text = await collectMetrics(deps.metrics, deps.metricsSources);
      return c.text(text, 200, { 'content-type': deps.metrics.registry.contentType });
    });
}
