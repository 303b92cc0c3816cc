/**
 * API benchmark: GET /v1/targets/{target}/config served from the routing-config cache, as applications
 * poll it (a full 200 answer, and the 304 an SDK gets with If-None-Match), and small authenticated ingest
 * batches when the ingest route is wired. The API runs as its own process (`node --import tsx
 * api/main.ts`) on a fresh database of the running PostgreSQL, with Redis and Temporal from the
 * services; autocannon loads it from another process over loopback, so the figures include HTTP
 * parsing, every middleware (auth, the Redis-shared rate limiter with a limit the load never reaches,
 * audit, metrics) and the socket path. The bare-Hono ceiling is measured in the same run, beside them:
 * load generator and server share this machine's cores, so the ceiling is what this machine can show.
 *
 *   npx tsx bench/api.ts [--json] [--profile <dir>] [--config-only]        (npm run bench -- api)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadEnv } from '../infra/env';
import { createApiKeysRepo } from '../infra/db/repos/api-keys';
import { freePort } from '../infra/net';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
const DURATION_S = 10;
const CONNECTIONS = 64;

interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats?: Record<string, { count: number }>;
}

/** autocannon in its own process: the load generator must not share the API's event loop. */
function cannon(
  url: string,
  opts: { headers: Record<string, string>; method?: string; body?: string; durationS?: number },
): Promise<CannonResult> {
  const args = [AUTOCANNON, '-j', '-c', String(CONNECTIONS), '-d', String(opts.durationS ?? DURATION_S)];
  for (const [k, v] of Object.entries(opts.headers)) args.push('-H', `${k}=${v}`);
  if (opts.method) args.push('-m', opts.method);
  if (opts.body) args.push('-b', opts.body);
  args.push(url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited ${code}: ${err.slice(-500)}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1)!) as CannonResult);
      } catch (e) {
        reject(new Error(`autocannon output unreadable: ${String(e)} ${out.slice(0, 300)}`));
      }
    });
  });
}

async function waitReady(base: string, api: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (api.exitCode !== null) throw new Error(`API exited with ${api.exitCode} before it was ready`);
    try {
      if ((await fetch(`${base}/readyz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('API not ready within 60 s');
}

/**
 * The ceiling beside the figures: a bare Hono server (no middleware, no auth, constant body) on the same
 * machine at the same moment. On a shared or busy machine the absolute numbers move; the ratio
 * route / ceiling says what our stack costs.
 */
async function ceiling(body: string): Promise<CannonResult> {
  const port = await freePort();
  const server = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--ceiling-server', String(port)],
    {
      cwd: ROOT,
      stdio: ['pipe', 'ignore', 'inherit'],
    },
  );
  server.stdin.end(body);
  try {
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (
        await fetch(`${base}/c`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return await cannon(`${base}/c`, { headers: {} });
  } finally {
    server.kill('SIGTERM');
  }
}

async function serveCeiling(port: number): Promise<void> {
  const { Hono } = await import('hono');
  const { serve } = await import('@hono/node-server');
  let body = '';
  for await (const chunk of process.stdin) body += String(chunk);
  const app = new Hono();
  app.get('/c', (c) => c.body(body, 200, { 'content-type': 'application/json', etag: '"ceiling"' }));
  serve({ fetch: app.fetch, port, hostname: '127.0.0.1' });
}

export async function runApiBench(): Promise<Record<string, number | string>> {
  const env = loadEnv();
  const dbName = `optimizer_bench_api_${process.pid}`;
  const admin = new pg.Client({ connectionString: env.DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const dbUrl = new URL(env.DATABASE_URL);
  dbUrl.pathname = `/${dbName}`;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // --profile <dir>: the API process writes a V8 CPU profile there on exit, to see where the time goes.
  const profileAt = process.argv.indexOf('--profile');
  const profile =
    profileAt > 0 ? ['--cpu-prof', `--cpu-prof-dir=${process.argv[profileAt + 1] ?? '.local/profiles'}`] : [];
  const api = spawn(process.execPath, [...profile, '--import', 'tsx', 'api/main.ts'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      NODE_ENV: 'production',
      // Production refuses to start without the key that encrypts stored secrets; the bench has none.
      SECRETS_KEY: process.env.SECRETS_KEY ?? randomBytes(32).toString('base64'),
      DATABASE_URL: dbUrl.toString(),
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      // The limiter runs (shared through Redis, as deployed) with a limit this one bench identity cannot
      // reach, so the figure includes its cost but never a 429.
      API_RATE_LIMIT_PER_MINUTE: '60000000',
    },
  });
  const figures: Record<string, number | string> = {};
  try {
    await waitReady(base, api);
    const db = new pg.Pool({ connectionString: dbUrl.toString(), max: 2 });
    const keys = createApiKeysRepo(db);
    const operator = (await keys.create({ name: 'bench-operator', roles: ['operator'], createdBy: 'bench' }))
      .key;
    const app = (await keys.create({ name: 'bench-app', roles: ['ingest'], createdBy: 'bench' })).key;
    await db.end();

    const created = await fetch(`${base}/v1/targets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${operator}` },
      body: JSON.stringify({
        name: 'bench-bot',
        arms: [
          { id: 'large', provider: 'openai', model: 'gpt-4o' },
          { id: 'small', provider: 'anthropic', model: 'claude-3-5-haiku' },
        ],
        weights: { large: 9000, small: 1000 },
      }),
    });
    if (created.status !== 201)
      throw new Error(`creating the bench target answered ${created.status}: ${await created.text()}`);
    const url = `${base}/v1/targets/bench-bot/config?segment=default`;
    const auth = { authorization: `Bearer ${app}` };
    const first = await fetch(url, { headers: auth });
    const etag = first.headers.get('etag') ?? '';
    if (first.status !== 200 || !etag) throw new Error(`config route answered ${first.status}`);

    await cannon(url, { headers: auth, durationS: 3 }); // warm-up: JIT, key cache, pools
    const full = await cannon(url, { headers: auth });
    figures.config_200_req_per_s = Math.round(full.requests.average);
    figures.config_200_p50_ms = full.latency.p50;
    figures.config_200_p99_ms = full.latency.p99;
    figures.config_200_errors = full.errors + full.timeouts + full.non2xx;
    const configOnly = process.argv.includes('--config-only');
    if (!configOnly) {
      const cached = await cannon(url, { headers: { ...auth, 'if-none-match': etag } });
      figures.config_304_req_per_s = Math.round(cached.requests.average);
      figures.config_304_p50_ms = cached.latency.p50;
      figures.config_304_p99_ms = cached.latency.p99;
    }
    const bare = await ceiling(await first.text());
    figures.ceiling_bare_hono_req_per_s = Math.round(bare.requests.average);
    figures.ceiling_bare_hono_p99_ms = bare.latency.p99;
    figures.config_200_share_of_ceiling =
      Math.round((full.requests.average / bare.requests.average) * 1000) / 1000;

    const now = new Date().toISOString();
    const batch = Array.from({ length: 10 }, (_, i) => ({
      type: 'llm.request',
      id: `bench-${i}`,
      timestamp: now,
      target: 'bench-bot',
      arm: 'large',
      request_id: `r-${i}`,
      model: 'gpt-4o',
      provider: 'openai',
      latency_ms: 420,
      input_tokens: 300,
      output_tokens: 80,
    }));
    const probe = await fetch(`${base}/v1/events`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify(batch),
    });
    if (configOnly) {
      figures.ingest_batch10 = 'not measured: --config-only';
    } else if (probe.status === 202) {
      // Same ids every time: after the first, every batch is a duplicate the pipeline must still answer.
      const ingest = await cannon(`${base}/v1/events`, {
        headers: { ...auth, 'content-type': 'application/json' },
        method: 'POST',
        body: JSON.stringify(batch),
      });
      figures.ingest_batch10_req_per_s = Math.round(ingest.requests.average);
      figures.ingest_batch10_events_per_s = Math.round(ingest.requests.average * batch.length);
      figures.ingest_batch10_p99_ms = ingest.latency.p99;
      figures.ingest_batch10_errors = ingest.errors + ingest.timeouts + ingest.non2xx;
    } else {
      figures.ingest_batch10 = `not measured: POST /v1/events answered ${probe.status}`;
    }
    figures.connections = CONNECTIONS;
    figures.duration_s = DURATION_S;
    figures.target_config_req_per_s = 20_000;
    // No route can beat an empty server on the same cores: say so beside the figures when that is the case.
    figures.target_reachable_here =
      bare.requests.average >= 20_000
        ? 'yes'
        : `no: bare Hono itself serves ${Math.round(bare.requests.average)}/s here (load generator on the same cores)`;
  } finally {
    api.kill('SIGTERM');
    await new Promise((r) => (api.exitCode !== null ? r(null) : api.once('exit', r)));
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
  }
  return figures;
}

const ceilingAt = process.argv.indexOf('--ceiling-server');
if (ceilingAt > 0) {
  await serveCeiling(Number(process.argv[ceilingAt + 1]));
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const figures = await runApiBench();
  if (process.argv.includes('--json')) console.log(JSON.stringify(figures));
  else console.table(figures);
}
