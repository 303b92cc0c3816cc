import type { RouteHandler } from '@hono/zod-openapi';
import type { Security } from '../../middleware/security';
import { decodeCursor, encodeCursor } from '../../lib/pagination';
import { createRouter } from '../../lib/router';
import type { ApiDeps, AppBindings } from '../../lib/types';
import { listAudit } from './audit.routes';

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

export function auditRouter(_deps: ApiDeps, security: Security) {
  const list: RouteHandler<typeof listAudit, AppBindings> = async (c) => {
    const q = c.req.valid('query');
    const beforeId = decodeCursor(q.cursor, isId);
    const items = await security.repos.audit.list({
      limit: q.limit + 1,
      ...(q.actor ? { actor: q.actor } : {}),
      ...(q.action ? { action: q.action } : {}),
      ...(q.resource ? { resourcePrefix: q.resource } : {}),
      ...(q.outcome ? { outcome: q.outcome } : {}),
      ...(q.since ? { since: q.since } : {}),
      ...(q.until ? { until: q.until } : {}),
      ...(beforeId ? { beforeId } : {}),
    });
    const page = items.slice(0, q.limit);
    return c.json(
      { items: page, next_cursor: items.length > q.limit ? encodeCursor(page.at(-1)!.id) : null },
      200,
    );
  };
  return createRouter().openapi(listAudit, list);
}
