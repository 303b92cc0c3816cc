import type { RouteHandler } from '@hono/zod-openapi';
import { AppError, notFound } from '../../../domain/errors';
import { createIntegrationsRepo, publicView } from '../../../infra/db/repos/integrations';
import { createJudgeRepo } from '../../../infra/db/repos/judge';
import { IntegrationSchemas, judgeSampleRate, sampledForJudge } from '../../../infra/integration-settings';
import { checkDestination, destinationPolicy, DestinationRefused } from '../../../infra/outbound';
import { zodIssues } from '../../lib/problem';
import type { ApiDeps, AppBindings } from '../../lib/types';
import type * as routes from './integrations.routes';
import { secretBoxFromEnv } from '../../../infra/secrets';

/** Settings and secrets that are URLs we will call: checked against the destination rules. */
const URL_FIELDS = [
  ['settings', 'api_base_url'],
  ['settings', 'base_url'],
  ['secrets', 'webhook_url'],
] as const;

export function integrationHandlers(deps: ApiDeps) {
  const repo = createIntegrationsRepo(deps.db, secretBoxFromEnv(deps.env));
  const destinations = destinationPolicy(deps.env);

  const list: RouteHandler<typeof routes.listIntegrations, AppBindings> = async (c) => {
    return c.json({ items: (await repo.list()).map(publicView) }, 200);
  };

  const get: RouteHandler<typeof routes.getIntegration, AppBindings> = async (c) => {
    const { kind } = c.req.valid('param');
    const r = await repo.get(kind);
    if (!r) throw notFound(`integration "${kind}"`);
    return c.json(publicView(r), 200);
  };

  const put: RouteHandler<typeof routes.putIntegration, AppBindings> = async (c) => {
    const { kind } = c.req.valid('param');
    const body = c.req.valid('json');
    const schema = IntegrationSchemas[kind];
    const settings = schema.settings.safeParse(body.settings);
    const secrets = schema.secrets.safeParse(body.secrets);
    const issues = [
      ...(settings.success ? [] : zodIssues(settings.error, ['settings'])),
      ...(secrets.success ? [] : zodIssues(secrets.error, ['secrets'])),
    ];
    if (issues.length > 0) {
      throw new AppError(
        'validation',
        `invalid ${kind} configuration: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
        { issues },
      );
    }
    for (const [part, field] of URL_FIELDS) {
      const value = (part === 'settings' ? body.settings : body.secrets)[field];
      if (typeof value !== 'string') continue;
      try {
        await checkDestination(value, destinations);
      } catch (err) {
        if (!(err instanceof DestinationRefused)) throw err;
        // The message names the host only: a webhook URL is itself a secret.
        throw new AppError('validation', `${part}.${field} is not an allowed destination`, {
          issues: [{ path: `${part}.${field}`, message: err.message }],
        });
      }
    }
    const saved = await repo.put(kind, {
      enabled: body.enabled,
      settings: settings.data as Record<string, unknown>,
      secrets: secrets.data as Record<string, string | null>,
    });
    c.get('logger').info(
      { integration: kind, enabled: saved.enabled, secrets_set: Object.keys(saved.secrets) },
      'integration configured',
    );
    return c.json(publicView(saved), 200);
  };

  const remove: RouteHandler<typeof routes.deleteIntegration, AppBindings> = async (c) => {
    const { kind } = c.req.valid('param');
    if (!(await repo.remove(kind))) throw notFound(`integration "${kind}"`);
    return c.body(null, 204);
  };

  const judge = createJudgeRepo(deps.db);
  const submitJudgeSamples: RouteHandler<typeof routes.submitJudgeSamples, AppBindings> = async (c) => {
    const { samples } = c.req.valid('json');
    const rates: Record<string, number> = {};
    for (const target of new Set(samples.map((s) => s.target)))
      rates[target] = await judgeSampleRate(deps.env, repo, target);
    const kept = samples.filter((s) => sampledForJudge(s.request_id, rates[s.target]!));
    const stored = await judge.submit(kept);
    return c.json({ received: samples.length, sampled: kept.length, stored, rates }, 202);
  };

  return { list, get, put, remove, submitJudgeSamples };
}
