import { createHmac, timingSafeEqual } from 'node:crypto';
import type { RouteHandler } from '@hono/zod-openapi';
import { AppError } from '../../../domain/errors';
import { createSettingsResolver } from '../../../app/integration-settings';
import { signatureFailures } from '../../lib/signature-failures';
import type { ApiDeps, AppBindings } from '../../lib/types';
import type { githubWebhook } from './github.routes';

export function verifyGithubSignature(secret: string, header: string | undefined, body: string): boolean {
  if (!header?.startsWith('sha256=')) return false;
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function githubHandlers(deps: ApiDeps) {
  // Over this app's env, which tests may override, not the container's resolver.
  const settings = createSettingsResolver(deps.env, deps.repos.integrations);
  const refused = signatureFailures(deps.metrics, 'github');

  const receive: RouteHandler<typeof githubWebhook, AppBindings> = async (c) => {
    const raw = await c.req.text();
    const secret = (await settings.github())?.webhookSecret;
    if (!secret) throw new AppError('not_found', 'GitHub webhooks are not configured');
    if (!verifyGithubSignature(secret, c.req.header('x-hub-signature-256'), raw)) {
      refused.inc();
      throw new AppError('unauthorized', 'X-Hub-Signature-256 is missing or does not match');
    }
    const event = c.req.header('x-github-event') ?? 'unknown';
    let payload: { action?: string; issue?: { number?: number } };
    try {
      payload = JSON.parse(raw) as typeof payload;
    } catch {
      throw new AppError('bad_request', 'request body is not valid JSON');
    }
    if (event === 'issues' && payload.action === 'closed') {
      if (typeof payload.issue?.number !== 'number') {
        throw new AppError('validation', 'issues event without issue.number', {
          issues: [{ path: 'issue.number', message: 'required' }],
        });
      }
      const resolved = await deps.repos.integrations.resolveByExternalId(
        'github',
        String(payload.issue.number),
      );
      c.get('logger').info(
        { delivery: c.req.header('x-github-delivery'), issue: payload.issue.number, resolved },
        'GitHub issue closed',
      );
      return c.json({ ok: true, event, resolved }, 200);
    }
    return c.json({ ok: true, event }, 200);
  };

  return { receive };
}
