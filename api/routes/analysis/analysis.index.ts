/** The latest analysis report of a target (or of one cycle): insights, recommendations and alerts. */
import { createRoute, z } from '@hono/zod-openapi';
import { notFound } from '../../../domain/errors';
import { createRouter } from '../../lib/router';
import { jsonResponse, problemResponse, TargetParam } from '../../lib/schemas';
import type { ApiDeps } from '../../lib/types';

const AnalysisReport = z
  .object({
    cycle_id: z.string(),
    target: z.string(),
    segments: z.array(z.string()),
    window_from: z.string(),
    window_to: z.string(),
    report: z
      .record(z.string(), z.unknown())
      .describe('Per analyzer: insights, recommendations, alerts with severity, confidence and evidence'),
    candidates: z
      .array(z.unknown())
      .describe('Candidate decisions the strategies proposed, before the coordinator'),
    created_at: z.string(),
  })
  .openapi('AnalysisReport');

const getAnalysis = createRoute({
  method: 'get',
  path: '/v1/targets/{target}/analysis',
  tags: ['analysis'],
  summary: "The latest cycle's analysis report of a target, or the one of `cycle_id`",
  request: {
    params: TargetParam,
    query: z.object({
      cycle_id: z
        .string()
        .max(200)
        .regex(/^cycle-[a-z0-9._-]+$/)
        .optional(),
    }),
  },
  responses: {
    200: jsonResponse(AnalysisReport, 'The report'),
    404: problemResponse('No such target, or no cycle has analyzed it yet'),
  },
});

export function analysisRouter(deps: ApiDeps) {
  const reports = deps.repos.analysisReports;
  return createRouter().openapi(getAnalysis, async (c) => {
    const { target } = c.req.valid('param');
    const { cycle_id } = c.req.valid('query');
    await deps.repos.targets.require(target);
    const r = await reports.latest(target, cycle_id);
    if (!r) throw notFound(`an analysis report of target "${target}"${cycle_id ? ` for ${cycle_id}` : ''}`);
    return c.json(
      { ...r, report: r.report as Record<string, unknown>, candidates: r.candidates as unknown[] },
      200,
    );
  });
}
