/**
 * The API reference at /docs: Scalar's page over /openapi.json, with Scalar's browser bundle served by
 * this API from the project's own dependencies (`@scalar/api-reference`), never from a CDN, so the page
 * works on a machine or a network without internet. Scalar's own calls home are turned off: no web
 * fonts from its host (system fonts instead), no telemetry, no AI agent, no developer toolbar.
 *
 * The page carries a Content-Security-Policy of its own: scripts only from this origin plus the one
 * inline script that starts Scalar (allowed by its hash), fetches only to this origin. Scalar needs
 * inline styles (its components set style attributes and inject style elements), so /docs alone allows
 * 'unsafe-inline' for styles; it needs no eval (its one `new Function` is a feature probe it catches).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { Scalar } from '@scalar/hono-api-reference';
import type { Context } from 'hono';
import { PROJECT_ROOT } from '../../../platform/paths';
import { createRouter } from '../../lib/router';
import type { AppBindings } from '../../lib/types';

export const DOCS_PATH = '/docs';
export const DOCS_SCRIPT_PATH = '/docs/assets/scalar.js';

const fromRoot = createRequire(join(PROJECT_ROOT, 'package.json'));
const SCALAR_BUNDLE = '@scalar/api-reference/browser/standalone.js';

interface Bundle {
  body: Buffer;
  etag: string;
  gzipped?: Promise<Buffer>;
}

/**
 * The bundle is 3.5 MB: read on the first request for it, not at every API worker's start, then kept.
 * Its URL carries the package version, so a browser may keep it for a year and an upgrade is fetched anew.
 */
function bundleLoader(): () => Bundle {
  let bundle: Bundle | undefined;
  return () => {
    if (!bundle) {
      const body = readFileSync(fromRoot.resolve(SCALAR_BUNDLE));
      bundle = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
    }
    return bundle;
  };
}

const scalarVersion = (): string =>
  (
    JSON.parse(
      readFileSync(join(fromRoot.resolve(SCALAR_BUNDLE), '..', '..', '..', 'package.json'), 'utf8'),
    ) as { version: string }
  ).version;

/** `'sha256-…'` sources for every inline script of a page, for its script-src. */
export function inlineScriptHashes(html: string): string[] {
  const out: string[] = [];
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
    if (/\bsrc\s*=/i.test(m[1]!)) continue;
    out.push(`'sha256-${createHash('sha256').update(m[2]!, 'utf8').digest('base64')}'`);
  }
  return out;
}

/** The /docs page's policy: nothing from another origin, inline styles for Scalar's components. */
export function docsContentSecurityPolicy(scriptHashes: readonly string[]): string {
  return [
    "default-src 'none'",
    `script-src 'self' ${scriptHashes.join(' ')}`.trim(),
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'self'",
  ].join('; ');
}

/** GET /docs (the reference page) and GET /docs/assets/scalar.js (Scalar's bundle from node_modules). */
export function docsRouter() {
  const app = createRouter();
  const bundle = bundleLoader();
  let page: { html: string; csp: string } | undefined;
  const renderPage = async (c: Context<AppBindings, string>) => {
    // The middleware answers with the page (it never calls next); rendered once, the page is constant.
    const res = await Scalar<AppBindings>({
      url: '/openapi.json',
      pageTitle: 'LLM Auto-Optimizer API',
      cdn: `${DOCS_SCRIPT_PATH}?v=${encodeURIComponent(scalarVersion())}`,
      withDefaultFonts: false,
      telemetry: false,
      // The AI agent asks Scalar's registry through Scalar's proxy on load; the developer toolbar
      // (shown on localhost) publishes to Scalar's cloud. Neither belongs on a self-hosted API.
      agent: { disabled: true },
      showDeveloperTools: 'never',
    })(c, async () => {});
    if (!(res instanceof Response)) throw new Error('@scalar/hono-api-reference rendered no page');
    const html = await res.text();
    return { html, csp: docsContentSecurityPolicy(inlineScriptHashes(html)) };
  };

  app.get(DOCS_PATH, async (c) => {
    page ??= await renderPage(c);
    c.header('content-security-policy', page.csp);
    c.header('cache-control', 'no-cache');
    return c.html(page.html);
  });

  app.get(DOCS_SCRIPT_PATH, async (c) => {
    const b = bundle();
    c.header('etag', b.etag);
    c.header('cache-control', 'public, max-age=31536000, immutable');
    c.header('vary', 'accept-encoding');
    const inm = c.req.header('if-none-match');
    if (inm !== undefined && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === b.etag))
      return c.body(null, 304);
    c.header('content-type', 'text/javascript; charset=utf-8');
    if (/\bgzip\b/.test(c.req.header('accept-encoding') ?? '')) {
      b.gzipped ??= promisify(gzip)(b.body);
      c.header('content-encoding', 'gzip');
      return c.body(new Uint8Array(await b.gzipped));
    }
    return c.body(new Uint8Array(b.body));
  });
  return app;
}
