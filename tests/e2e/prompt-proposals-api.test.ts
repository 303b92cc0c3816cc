/**
 * Prompt variants Claude drafted reach a person through the API: listed per target (filtered by
 * status), approved or rejected once (a second answer is a 409 naming the status), unknown ids 404,
 * malformed ids 400 naming the field, and only roles with decisions:approve may answer.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJudgeRepo } from '../../adapters/db/repos/judge';
import { uniqueName } from '../helpers/env';
import { call, startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ workers: false });
});
afterAll(async () => {
  await sys?.stop();
});

async function draft(target: string, segment: string): Promise<string> {
  return createJudgeRepo(sys.deps.db).insertProposal({
    id: `pp_${randomUUID()}`,
    target,
    segment,
    base_arm: 'big',
    cycle_id: uniqueName('cycle'),
    decision_id: null,
    reason: 'winner of the concluded experiment',
    base_template: 'Answer briefly: {{question}}',
    variants: [{ template: 'Answer in one sentence: {{question}}', rationale: 'shorter answers cost less' }],
    model: 'claude-test-writer',
    input_tokens: 120,
    output_tokens: 80,
    cost_usd: 0.0012,
  });
}

describe('prompt proposals API', () => {
  it('lists, approves once and rejects drafted prompt variants', async () => {
    const target = uniqueName('pp');
    const first = await draft(target, 'billing');
    const second = await draft(target, 'refunds');

    const listed = await call(sys, 'GET', `/v1/targets/${target}/prompt-proposals`);
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((p: { id: string }) => p.id).sort()).toEqual([first, second].sort());
    expect(listed.body.items[0].variants[0].template).toContain('{{question}}');

    const approved = await call(sys, 'POST', `/v1/prompt-proposals/${first}/approve`);
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ id: first, status: 'approved', segment: 'billing' });

    const again = await call(sys, 'POST', `/v1/prompt-proposals/${first}/reject`);
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toContain('application/problem+json');
    expect(again.body.detail).toContain('already answered (it is approved)');

    expect((await call(sys, 'POST', `/v1/prompt-proposals/${second}/reject`)).body.status).toBe('rejected');
    const open = await call(sys, 'GET', `/v1/targets/${target}/prompt-proposals?status=proposed`);
    expect(open.body.items).toEqual([]);
    const kept = await call(sys, 'GET', `/v1/targets/${target}/prompt-proposals?status=approved`);
    expect(kept.body.items.map((p: { id: string }) => p.id)).toEqual([first]);
  });

  it('answers unknown and malformed ids precisely, and only to roles that may approve', async () => {
    const missing = await call(sys, 'POST', `/v1/prompt-proposals/pp_${randomUUID()}/approve`);
    expect(missing.status).toBe(404);

    const malformed = await call(sys, 'POST', '/v1/prompt-proposals/..%2F..%2Fetc/approve');
    expect(malformed.status).toBe(400);
    expect(JSON.stringify(malformed.body.errors)).toContain('id');

    const id = await draft(uniqueName('pp'), 'default');
    const analyst = await sys.keyFor('analyst');
    const refused = await call(
      sys,
      'POST',
      `/v1/prompt-proposals/${id}/approve`,
      undefined,
      {},
      { auth: analyst },
    );
    expect(refused.status).toBe(403);
    const operator = await sys.keyFor('operator');
    const answered = await call(
      sys,
      'POST',
      `/v1/prompt-proposals/${id}/approve`,
      undefined,
      {},
      { auth: operator },
    );
    expect(answered.status).toBe(200);
    expect(
      (await call(sys, 'POST', `/v1/prompt-proposals/${id}/approve`, undefined, {}, { auth: false })).status,
    ).toBe(401);
  });
});
