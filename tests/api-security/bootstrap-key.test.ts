/**
 * `npm start` gives the user a working admin credential: a key file with mode 600 that is kept across
 * restarts while it works and replaced once it was revoked.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBootstrapAdminKey } from '../../adapters/db/repos/api-keys';
import { call, startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
let dir: string;
beforeAll(async () => {
  sys = await startTestSystem({ workers: false });
  dir = await mkdtemp(join(tmpdir(), 'llmopt-key-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await sys?.stop();
});

describe('bootstrap admin key', () => {
  it('writes an admin key with mode 600, keeps it across starts, and replaces it once revoked', async () => {
    const file = join(dir, 'data', 'admin-api-key');
    const first = await ensureBootstrapAdminKey(sys.deps.db, file);
    expect(first.created).toBe(true);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const key = (await readFile(file, 'utf8')).trim();
    expect(key).toBe(first.key);
    const created = await call(
      sys,
      'POST',
      '/v1/api-keys',
      { name: 'made with the bootstrap key', roles: ['analyst'] },
      {},
      { auth: key },
    );
    expect(created.status).toBe(201);

    const again = await ensureBootstrapAdminKey(sys.deps.db, file);
    expect(again).toEqual({ key, created: false });

    const id = (
      await sys.deps.db.query<{ id: string }>('SELECT id FROM api_keys WHERE prefix = $1', [
        key.split('_')[1],
      ])
    ).rows[0]!.id;
    expect((await call(sys, 'DELETE', `/v1/api-keys/${id}`)).status).toBe(200);
    const replaced = await ensureBootstrapAdminKey(sys.deps.db, file);
    expect(replaced.created).toBe(true);
    expect(replaced.key).not.toBe(key);
    expect((await readFile(file, 'utf8')).trim()).toBe(replaced.key);
  });
});
