import type { RouteHandler } from '@hono/zod-openapi';
import { AppError, notFound } from '../../../domain/errors';
import { createIntegrationsRepo, publicView } from '../../../adapters/db/repos/integrations';
import { withTransaction } from '../../../adapters/db/pool';
import {
  IntegrationSchemas,
  judgeSampleRate,
  sampledForJudge,
  secretsMovedBy,
} from '../../../app/integration-settings';
import { checkDestination, destinationPolicy, DestinationRefused } from '../../../platform/outbound';
import { zodIssues } from '../../lib/problem';
import type { ApiDeps, AppBindings } from '../../lib/types';
import type * as routes from './integrations.routes';

/** Settings and secrets that are URLs we will call: checked against the destination rules. */
const URL_FIELDS = [
  ['settings', 'api_base_url'],
  ['settings', 'base_url'],
  ['secrets', 'webhook_url'],
] as const;

export function integrationHandlers(deps: ApiDeps) {
  const repo = deps.repos.integrations;
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
    const next = {
      enabled: body.enabled,
      settings: settings.data as Record<string, unknown>,
      secrets: secrets.data as Record<string, string | null>,
    };
    const admin = c.get('identity').roles.includes('admin');
    // Read, judged and written under one lock per kind, so no concurrent PUT can slip a secret in between.
    const { saved, moved } = await withTransaction(deps.db, async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`integration:${kind}`]);
      const locked = createIntegrationsRepo(tx, deps.secrets);
      const moved = secretsMovedBy(deps.env, await locked.get(kind), next);
      if (moved.length > 0 && !admin) {
        // A stored secret was entered for one address; sending it to another takes someone who knows it.
        throw new AppError(
          'validation',
          moved
            .map(
              (m) =>
                `settings.${m.setting} changes where the stored secret ${m.secret} is sent: ` +
                `enter secrets.${m.secret} again in the same request (or ask an admin to make the change)`,
            )
            .join('; '),
          {
            issues: moved.map((m) => ({
              path: `secrets.${m.secret}`,
              message: `required when settings.${m.setting} changes`,
            })),
          },
        );
      }
      return { saved: await locked.put(kind, next), moved };
    });
    c.get('logger').info(
      {
        integration: kind,
        enabled: saved.enabled,
        secrets_set: Object.keys(saved.secrets),
        ...(moved.length > 0 ? { secrets_moved_by_admin: moved.map((m) => m.secret) } : {}),
      },
      'integration configured',
    );
    return c.json(publicView(saved), 200);
  };

  const remove: RouteHandler<typeof routes.deleteIntegration, AppBindings> = async (c) => {
    const { kind } = c.req.valid('param');
    if (!(await repo.remove(kind))) throw notFound(`integration "${kind}"`);
    return c.body(null, 204);
  };

  const { judge } = deps.repos;
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
