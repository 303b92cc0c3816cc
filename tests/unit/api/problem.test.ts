/**
 * A domain error's details travel as extension members of the problem document; none of them can
 * change the status the answer is sent with or the members RFC 9457 defines.
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../domain/errors';
import { errorHandler } from '../../../api/lib/problem';
import { createLogger } from '../../../platform/logger';

describe('problem documents', () => {
  it('keep their status, type, title and detail whatever a domain error names its details', async () => {
    const app = new Hono();
    app.onError(errorHandler(createLogger('test', 'silent')));
    app.get('/x', () => {
      throw new AppError('conflict', 'cycle "c" has finished', {
        status: 'completed',
        type: 'mine',
        title: 'mine',
        detail: 'mine',
        cycle_id: 'c',
      });
    });
    const r = await app.request('/x');
    expect(r.status).toBe(409);
    expect(r.headers.get('content-type')).toBe('application/problem+json');
    expect(await r.json()).toMatchObject({
      status: 409,
      type: 'https://llm-auto-optimizer.dev/problems/conflict',
      title: 'Conflict',
      detail: 'cycle "c" has finished',
      cycle_id: 'c',
    });
  });
});
