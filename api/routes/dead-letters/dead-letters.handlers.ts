import type { RouteHandler } from '@hono/zod-openapi';
import { AppError, conflict, notFound } from '../../../domain/errors';
import type { StoredDeadLetter } from '../../../pipeline/adapters/store';
import { ingestItems } from '../../../pipeline/front';
import { decodeCursor, pageOf } from '../../lib/pagination';
import type { ApiDeps, AppBindings } from '../../lib/types';
import { ingestSource, requireFront } from '../events/events.handlers';
import type * as routes from './dead-letters.routes';

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

/** The payload as JSON when its bytes are UTF-8 JSON, exactly; otherwise undefined. */
function parsePayload(raw: Buffer): { value: unknown } | undefined {
  const text = raw.toString('utf8');
  // Invalid UTF-8 would come back as U+FFFD: not what arrived, so not offered as the payload.
  if (!Buffer.from(text, 'utf8').equals(raw)) return undefined;
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return undefined;
  }
}

function toBody(d: StoredDeadLetter) {
  return {
    id: d.id,
    shard: d.shard,
    offset: d.offset,
    event_id: d.eventId,
    reason: d.reason,
    reason_code: d.reasonCode as (typeof routes.DeadLetterSchema._output)['reason_code'],
    payload: parsePayload(d.raw)?.value ?? null,
    raw_base64: d.raw.toString('base64'),
    created_at: d.createdAt.toISOString(),
    replayed_at: d.replayedAt?.toISOString() ?? null,
  };
}

export function deadLetterHandlers(deps: ApiDeps) {
  const repo = deps.repos.aggregates;

  const list: RouteHandler<typeof routes.listDeadLetters, AppBindings> = async (c) => {
    const q = c.req.valid('query');
    const beforeId = decodeCursor(q.cursor, isId);
    const rows = await repo.listDeadLetters({
      limit: q.limit + 1,
      ...(q.reason ? { reason: q.reason } : {}),
      ...(q.shard ? { shardPrefix: q.shard } : {}),
      ...(beforeId ? { beforeId } : {}),
      includeReplayed: q.include_replayed === 'true',
    });
    const page = pageOf(rows, q.limit, (last) => last.id);
    return c.json({ items: page.items.map(toBody), next_cursor: page.next_cursor }, 200);
  };

  const replay: RouteHandler<typeof routes.replayDeadLetter, AppBindings> = async (c) => {
    const { id } = c.req.valid('param');
    const front = requireFront(deps);
    const d = await repo.getDeadLetter(id);
    if (!d) throw notFound(`dead letter ${id}`);
    if (d.replayedAt) throw conflict(`dead letter ${id} was replayed at ${d.replayedAt.toISOString()}`);
    const parsed = parsePayload(d.raw);
    if (!parsed) {
      throw new AppError('validation', `dead letter ${id} is not a JSON event; it stays`, {
        issues: [{ path: '(payload)', message: 'not valid UTF-8 JSON' }],
        reason: 'invalid_json',
      });
    }
    // Through the front door like any event: the same validation, rate limit, dedup and durability.
    const result = await ingestItems(front, ingestSource(c), [parsed.value]);
    const [rejected] = result.rejected;
    if (rejected) {
      throw new AppError('validation', `dead letter ${id} is still not a valid event; it stays`, {
        issues: rejected.errors.map((e) => ({
          path: e.path.replace(/^\[0\]\.?/, '') || '(root)',
          message: e.message,
        })),
        reason: rejected.reason,
      });
    }
    await repo.markDeadLetterReplayed(id);
    const now = await repo.getDeadLetter(id);
    return c.json(
      { id, accepted: result.accepted, replayed_at: (now?.replayedAt ?? new Date()).toISOString() },
      202,
    );
  };

  return { list, replay };
}
