/**
 * Ingest dead letters through the API over real PostgreSQL: listed newest first with the reason and the
 * exact payload (whatever it holds), filtered and paged; replayed through the front door (a payload that
 * is still invalid answers 422 with the reason and stays); operators only; audited. And /metrics counts
 * refusals and dead letters by reason.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAggregatesRepo, type DeadLetter } from '../../../pipeline/adapters/store';
import { eventually, uniqueName } from '../../helpers/env';
import { call, startTestSystem, type TestSystem } from '../../helpers/system';
import { llmRequest } from './fixtures';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({
    workers: false,
    ingest: {
      name: uniqueName('dead-letters'),
      env: { DATA_DIR: mkdtempSync(join(tmpdir(), 'llmopt-dl-')), INGEST_FLUSH_INTERVAL_MS: 100 },
    },
  });
});
afterAll(async () => {
  await sys?.stop();
});

const NOW = Date.now() - 30_000;

/** Dead letters as a shard's commit stores them, on a shard of the test's own. */
async function storeDeadLetters(shard: string, letters: DeadLetter[]): Promise<void> {
  const repo = createAggregatesRepo(sys.deps.db);
  const { epoch } = await repo.claim(shard);
  await repo.commit(
    shard,
    epoch,
    [],
    { nextOffset: letters.length, watermark: null, events: 0, duplicates: 0, tooLate: 0 },
    letters,
  );
}

async function requestCount(target: string): Promise<number> {
  await sys.ingest!.pipeline.drain();
  const windows = await createAggregatesRepo(sys.deps.db).query({
    target,
    from: new Date(NOW - 3_600_000).toISOString(),
    to: new Date(Date.now() + 60_000).toISOString(),
  });
  return windows.reduce((s, w) => s + w.count, 0);
}

interface Listed {
  id: number;
  offset: number;
  reason_code: string;
  payload: unknown;
  raw_base64: string;
  replayed_at: string | null;
}

describe('ingest dead letters', () => {
  it('lists, pages, filters and replays them; an invalid payload stays with its reason', async () => {
    const shard = `wal:${uniqueName('dl-shard')}`;
    const target = uniqueName('dl-bot');
    const poisoned = llmRequest(target, 1, NOW, { status: 'error', error_type: 'nul\u0000here' });
    const late = llmRequest(target, 2, NOW);
    await storeDeadLetters(shard, [
      { offset: 0, eventId: poisoned.id, reason: 'unstorable: NUL in error_type', payload: poisoned },
      { offset: 1, eventId: late.id, reason: 'too_late: behind the watermark', payload: late },
    ]);

    const all = await call(sys, 'GET', `/v1/ingest/dead-letters?shard=${encodeURIComponent(shard)}`);
    expect(all.status).toBe(200);
    const items = all.body.items as Listed[];
    expect(items.map((d) => [d.offset, d.reason_code])).toEqual([
      [1, 'too_late'],
      [0, 'unstorable'],
    ]);
    // Exactly what arrived, NUL included, as JSON and as bytes.
    expect(items[1]!.payload).toEqual(poisoned);
    expect(JSON.parse(Buffer.from(items[1]!.raw_base64, 'base64').toString('utf8'))).toEqual(poisoned);

    const page1 = await call(
      sys,
      'GET',
      `/v1/ingest/dead-letters?shard=${encodeURIComponent(shard)}&limit=1`,
    );
    const page2 = await call(
      sys,
      'GET',
      `/v1/ingest/dead-letters?shard=${encodeURIComponent(shard)}&limit=1&cursor=${page1.body.next_cursor}`,
    );
    expect([...page1.body.items, ...page2.body.items].map((d: Listed) => d.id)).toEqual(
      items.map((d) => d.id),
    );
    expect(page2.body.next_cursor).toBeNull();
    const unstorable = await call(
      sys,
      'GET',
      `/v1/ingest/dead-letters?shard=${encodeURIComponent(shard)}&reason=unstorable`,
    );
    expect(unstorable.body.items.map((d: Listed) => d.offset)).toEqual([0]);
    expect((await call(sys, 'GET', '/v1/ingest/dead-letters?reason=bogus')).status).toBe(400);

    // Still invalid: 422 naming the field and the reason; it stays listed.
    const [lateItem, poisonedItem] = items as [Listed, Listed];
    const refused = await call(sys, 'POST', `/v1/ingest/dead-letters/${poisonedItem.id}/replay`);
    expect(refused.status).toBe(422);
    expect(refused.body.reason).toBe('invalid_text');
    expect(refused.body.errors).toEqual([{ path: 'error_type', message: expect.stringMatching(/NUL/) }]);

    // Valid: accepted through the front door and counted, then marked replayed (once).
    const replayed = await call(sys, 'POST', `/v1/ingest/dead-letters/${lateItem.id}/replay`);
    expect(replayed.status).toBe(202);
    expect(await requestCount(target)).toBe(1);
    expect((await call(sys, 'POST', `/v1/ingest/dead-letters/${lateItem.id}/replay`)).status).toBe(409);
    expect((await call(sys, 'POST', '/v1/ingest/dead-letters/999999999999/replay')).status).toBe(404);
    const open = await call(sys, 'GET', `/v1/ingest/dead-letters?shard=${encodeURIComponent(shard)}`);
    expect(open.body.items.map((d: Listed) => d.id)).toEqual([poisonedItem.id]);
    const everything = await call(
      sys,
      'GET',
      `/v1/ingest/dead-letters?shard=${encodeURIComponent(shard)}&include_replayed=true`,
    );
    expect(everything.body.items.find((d: Listed) => d.id === lateItem.id).replayed_at).toEqual(
      expect.any(String),
    );

    // Audited: who replayed which.
    const audit = await call(
      sys,
      'GET',
      `/v1/audit?resource=${encodeURIComponent(`/v1/ingest/dead-letters/${lateItem.id}/replay`)}`,
    );
    expect(audit.body.items).toEqual([
      expect.objectContaining({ action: 'POST /v1/ingest/dead-letters/{id}/replay', outcome: 'success' }),
    ]);
  });

  it('is for operators: analysts and applications are refused', async () => {
    const analyst = await sys.keyFor('analyst');
    const ingest = await sys.keyFor('ingest');
    const operator = await sys.keyFor('operator');
    expect((await call(sys, 'GET', '/v1/ingest/dead-letters', undefined, {}, { auth: analyst })).status).toBe(
      403,
    );
    expect((await call(sys, 'GET', '/v1/ingest/dead-letters', undefined, {}, { auth: ingest })).status).toBe(
      403,
    );
    expect(
      (await call(sys, 'POST', '/v1/ingest/dead-letters/1/replay', undefined, {}, { auth: ingest })).status,
    ).toBe(403);
    expect(
      (await call(sys, 'GET', '/v1/ingest/dead-letters', undefined, {}, { auth: operator })).status,
    ).toBe(200);
    const doc = await call(sys, 'GET', '/openapi.json');
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining(['/v1/ingest/dead-letters', '/v1/ingest/dead-letters/{id}/replay']),
    );
  });

  it('counts refused events and dead letters by reason in /metrics', async () => {
    const target = uniqueName('dl-metrics');
    const bad = await call(sys, 'POST', '/v1/events', [
      llmRequest(target, 1, NOW, { provider: 'open\u0000ai' }),
    ]);
    expect(bad.status).toBe(422);
    expect(bad.body.errors).toEqual([{ path: '[0].provider', message: expect.stringMatching(/NUL/) }]);
    // An event far behind the shard's watermark is dead-lettered as too late.
    await call(sys, 'POST', '/v1/events', [llmRequest(target, 2, Date.now())]);
    await sys.ingest!.pipeline.drain();
    await call(sys, 'POST', '/v1/events', [llmRequest(target, 3, Date.now() - 3 * 3_600_000)]);
    await sys.ingest!.pipeline.drain();
    const text = await eventually(
      async () => {
        const m = await call(sys, 'GET', '/metrics');
        const body = String(m.body);
        return /llmopt_ingest_dead_letters_total\{[^}]*reason="too_late"[^}]*\} [1-9]/.test(body) && body;
      },
      { what: 'the too-late dead letter counted' },
    );
    expect(text).toMatch(/llmopt_ingest_events_refused_total\{[^}]*reason="invalid_text"[^}]*\} [1-9]/);
  });
});
