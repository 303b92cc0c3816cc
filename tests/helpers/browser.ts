/**
 * A real headless browser for tests that look at a page the way a person does: Debian's chromium
 * (installed by `infra/services.sh up`) driven by playwright-core, which never downloads a browser.
 *
 * The network is cut off below the page: every request that is not to a loopback address is aborted
 * and recorded (`blocked`), and the browser's resolver answers no other name, so a page that works here
 * works on a machine without internet, and a test can assert that it did not even try to go out.
 * A missing chromium fails the test with how to install it; it is never a reason to skip.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Flags that run Debian's chromium as root on a closed network, with nothing of its own going out. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Any host but loopback resolves to nothing, so even a request outside the page's routing stays home.
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE [::1]',
];

export interface OfflineBrowser {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Every URL the page tried to reach outside loopback, in order (each was aborted). */
  blocked: string[];
  /** Content-Security-Policy violations the page reported (directive and blocked URI). */
  cspViolations(): Promise<{ directive: string; blocked: string }[]>;
  /** Uncaught page errors and console errors, as text. */
  errors: string[];
  close(): Promise<void>;
}

const LOOPBACK_HOSTS = new Set(['localhost', '[::1]']);

/** True for http(s) URLs on 127.0.0.0/8, ::1 or localhost; data: and blob: URLs never leave the page. */
export function isLoopbackUrl(raw: string): boolean {
  const url = new URL(raw);
  if (url.protocol === 'data:' || url.protocol === 'blob:' || url.protocol === 'about:') return true;
  if (url.protocol !== 'http:' && url.protocol !== 'https:' && url.protocol !== 'ws:') return false;
  return LOOPBACK_HOSTS.has(url.hostname) || /^127(\.\d{1,3}){3}$/.test(url.hostname);
}

/** Launches chromium (fresh profile) with a page whose non-loopback requests are aborted and recorded. */
export async function launchOfflineBrowser(): Promise<OfflineBrowser> {
  if (!existsSync(CHROMIUM_PATH))
    throw new Error(
      `chromium not found at ${CHROMIUM_PATH}: run "bash infra/services.sh up" (installs Debian's chromium) or set CHROMIUM_PATH`,
    );
  // launch() gives every browser a fresh temporary profile (--user-data-dir) and removes it on close.
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    chromiumSandbox: false, // --no-sandbox: the tests run as root
    args: [...CHROMIUM_ARGS],
  });
  try {
    const context = await browser.newContext({ serviceWorkers: 'block' });
    const blocked: string[] = [];
    const errors: string[] = [];
    await context.route('**/*', async (route) => {
      const url = route.request().url();
      if (isLoopbackUrl(url)) return route.continue();
      blocked.push(url);
      return route.abort('internetdisconnected');
    });
    // Page code as text: it runs in the browser, where the DOM is (this project compiles without it).
    await context.addInitScript({
      content: `globalThis.__cspViolations = [];
        document.addEventListener('securitypolicyviolation', (e) =>
          globalThis.__cspViolations.push({ directive: e.effectiveDirective, blocked: e.blockedURI }));`,
    });
    const page = await context.newPage();
    page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
    });
    return {
      browser,
      context,
      page,
      blocked,
      errors,
      cspViolations: () =>
        page.evaluate<{ directive: string; blocked: string }[]>('globalThis.__cspViolations ?? []'),
      close: () => browser.close(),
    };
  } catch (err) {
    await browser.close();
    throw err;
  }
}
