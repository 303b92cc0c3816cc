/**
 * The CLI's typed client is generated from the API's OpenAPI document: the committed
 * cli/llmopt/src/api-types.ts must be what openapi-typescript makes of the document the app serves now,
 * so a route that changes without the client following fails here (`-u` rewrites the file).
 */
// First: zod-openapi must extend zod before any domain schema is built.
import '@hono/zod-openapi';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { API_TYPES_PATH, renderApiTypes } from '../../cli/llmopt/scripts/gen-types';
import { startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ workers: false });
});
afterAll(async () => {
  await sys?.stop();
});

it('cli/llmopt/src/api-types.ts is generated from the OpenAPI document the API serves', async () => {
  const res = await sys.app.request('/openapi.json', {
    headers: { authorization: `Bearer ${sys.adminKey}` },
  });
  expect(res.status).toBe(200);
  await expect(await renderApiTypes((await res.json()) as object)).toMatchFileSnapshot(API_TYPES_PATH);
});
