/** REST of ingest dead letters: the wire format over app/webhooks.ts's dead-letter operations. */
import type { RouteHandler } from '@hono/zod-openapi';
import { createDeadLettersService, type DeadLetterView } from '../../../app/webhooks';
import { callerOf } from '../../lib/caller';
import { decodeCursor, pageOf } from '../../lib/pagination';
import type { ApiDeps, AppBindings } from '../../lib/types';
import type * as routes from './dead-letters.routes';

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

function toBody({ letter: d, payload }: DeadLetterView) {
  return {
    id: d.id,
    shard: d.shard,
    offset: d.offset,
    event_id: d.eventId,
    reason: d.reason,
    reason_code: d.reasonCode as (typeof routes.DeadLetterSchema._output)['reason_code'],
    payload: payload?.value ?? null,
    raw_base64: d.raw.toString('base64'),
    created_at: d.createdAt.toISOString(),
    replayed_at: d.replayedAt?.toISOString() ?? null,
  };
}

export function deadLetterHandlers(deps: ApiDeps) {
  // Over the app's own ingest front door, which only the API process has.
  const service = createDeadLettersService(deps);

  const list: RouteHandler<typeof routes.listDeadLetters, AppBindings> = async (c) => {
    const q = c.req.valid('query');
    const beforeId = decodeCursor(q.cursor, isId);
    const rows = await service.list(callerOf(c), {
      limit: q.limit + 1,
      ...(q.reason ? { reason: q.reason } : {}),
      ...(q.shard ? { shardPrefix: q.shard } : {}),
      ...(beforeId ? { beforeId } : {}),
      includeReplayed: q.include_replayed === 'true',
    });
    const page = pageOf(rows, q.limit, (last) => last.letter.id);
    return c.json({ items: page.items.map(toBody), next_cursor: page.next_cursor }, 200);
  };

  const replay: RouteHandler<typeof routes.replayDeadLetter, AppBindings> = async (c) => {
    const r = await service.replay(callerOf(c), c.req.valid('param').id);
    return c.json({ id: r.id, accepted: r.accepted, replayed_at: r.replayedAt.toISOString() }, 202);
  };

  return { list, replay };
}
