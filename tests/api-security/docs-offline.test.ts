/**
 * The API reference works without internet: /docs names no third-party URL, Scalar's bundle comes from
 * the API itself (cached for a year, revalidated by ETag), and a real headless Chromium with every
 * non-loopback request cut off renders the operations under the page's Content-Security-Policy.
 */
// Before any zod schema is built (zod 4 binds methods per instance), as api/main.ts does.
import '@hono/zod-openapi';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listenApi } from '../../api/server';
import { DOCS_SCRIPT_PATH } from '../../api/routes/docs/docs.index';
import { launchOfflineBrowser, type OfflineBrowser } from '../helpers/browser';
import { eventually } from '../helpers/env';
import { startTestSystem, type TestSystem } from '../helpers/system';

let sys: TestSystem;
let server: Server;
let base: string;
beforeAll(async () => {
  sys = await startTestSystem({ workers: false });
  server = await listenApi(sys.app, 0, '127.0.0.1');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await sys?.stop();
});

describe('GET /docs', () => {
  it('names no URL of another host and carries a policy that allows scripts from this origin only', async () => {
    const res = await fetch(`${base}/docs`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).not.toMatch(/(https?:)?\/\/[a-z0-9]/i);
    expect(html).toContain(`src="${DOCS_SCRIPT_PATH}?v=`);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/(^|; )default-src 'none'(;|$)/);
    expect(csp).toMatch(/(^|; )script-src 'self'( 'sha256-[A-Za-z0-9+/=]+')*(;|$)/);
    expect(csp).toMatch(/(^|; )connect-src 'self'(;|$)/);
    expect(csp).not.toContain('unsafe-eval');
    // The API's other secure headers stay on the page.
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cross-origin-resource-policy')).toBe('same-origin');
  });

  it("serves Scalar's bundle from the project's dependencies with a long cache and an ETag", async () => {
    const page = await (await fetch(`${base}/docs`)).text();
    const src = /<script src="([^"]+)"/.exec(page)![1]!;
    const res = await fetch(`${base}${src}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(res.headers.get('cache-control')).toMatch(/max-age=31536000/);
    const etag = res.headers.get('etag')!;
    expect(etag).toMatch(/^"[\w-]+"$/);
    const body = await res.text();
    expect(body).toContain('createApiReference');
    const again = await fetch(`${base}${src}`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    // Compressed for callers that take gzip (fetch decodes it): the same script.
    const gz = await fetch(`${base}${src}`, { headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers.get('content-encoding')).toBe('gzip');
    expect(await gz.text()).toBe(body);
  });

  describe('in headless Chromium with the network cut off', () => {
    let b: OfflineBrowser | undefined;
    afterEach(async () => {
      await b?.close();
    });

    it('lists the operations of /openapi.json without reaching or needing any other host', async () => {
      // Launched in the test, not a hook: a missing chromium fails this test instead of skipping it.
      const browser = await launchOfflineBrowser();
      b = browser;
      const spec = (await (await fetch(`${base}/openapi.json`)).json()) as {
        paths: Record<string, Record<string, { summary?: string; tags?: string[] }>>;
      };
      const operations = Object.values(spec.paths).flatMap((ops) => Object.values(ops));
      const summariesOf = (tag: string) =>
        operations.filter((o) => o.tags?.[0] === tag && o.summary).map((o) => o.summary!);
      const tags = [...new Set(operations.map((o) => o.tags?.[0]).filter((t): t is string => !!t))];
      expect(tags.length).toBeGreaterThan(10);

      const res = await browser.page.goto(`${base}/docs`, { waitUntil: 'load' });
      expect(res?.status()).toBe(200);
      // Scalar lists every tag in its sidebar with the first one open: its operations are on the page.
      const shows = (wanted: readonly string[]) => async () => {
        const t = await browser.page.innerText('body');
        return wanted.every((w) => t.includes(w));
      };
      await eventually(shows(['LLM Auto-Optimizer API', ...tags, ...summariesOf('health')]), {
        timeoutMs: 30_000,
        what: 'the title, every tag and the health operations on the page',
      });
      // Another group opens on a click, as a reader would browse to it.
      await browser.page.getByText('decisions', { exact: true }).first().click();
      await eventually(shows(summariesOf('decisions')), {
        timeoutMs: 15_000,
        what: 'the decisions operations after opening their group',
      });
      expect(summariesOf('decisions').length).toBeGreaterThan(1);

      expect(browser.blocked).toEqual([]);
      expect(browser.errors).toEqual([]);
      // The only refusal is zod's probe for eval, which it catches (it then validates without compiling).
      expect((await browser.cspViolations()).filter((v) => v.blocked !== 'eval')).toEqual([]);
    });
  });
});
