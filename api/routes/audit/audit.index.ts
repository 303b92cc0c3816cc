/** REST of the audit log over app/audit.ts. */
import type { RouteHandler } from '@hono/zod-openapi';
import { createAuditService } from '../../../app/audit';
import type { Security } from '../../middleware/security';
import { decodeCursor, pageOf } from '../../lib/pagination';
import { createRouter } from '../../lib/router';
import type { ApiDeps, AppBindings } from '../../lib/types';
import { listAudit } from './audit.routes';

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

export function auditRouter(_deps: ApiDeps, security: Security) {
  // The log the audit middleware writes (security.repos.audit), read back.
  const audit = createAuditService({ repos: security.repos });
  const list: RouteHandler<typeof listAudit, AppBindings> = async (c) => {
    const { cursor, ...q } = c.req.valid('query');
    const items = await audit.list({ ...q, limit: q.limit + 1, beforeId: decodeCursor(cursor, isId) });
    return c.json(
      pageOf(items, q.limit, (e) => e.id),
      200,
    );
  };
  return createRouter().openapi(listAudit, list);
}
