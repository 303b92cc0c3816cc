/**
 * API benchmark: GET /v1/targets/{target}/config served from the routing-config cache, as applications
 * poll it (a full 200 answer, and the 304 an SDK gets with If-None-Match), and small authenticated ingest
 * batches when the ingest route is wired. The API runs as its own process (`node --import tsx
 * api/main.ts`, API_WORKERS=2 by default) on a fresh database of the running PostgreSQL, with Redis and
 * Temporal from the services; wrk (autocannon when wrk is absent) loads it from another process over
 * loopback, so the figures include HTTP parsing, every middleware (auth, the Redis-shared rate limiter
 * with a limit the load never reaches, audit, metrics) and the socket path. Beside each rate: the
 * server's CPU time per request (utime + stime of the API process tree over the run), which a busy
 * machine disturbs far less than the rate. Two ceilings are measured in the same run -- an empty Hono app,
 * and node:http alone writing the same answer as the config route -- since load generator and server
 * share this machine's cores, they are what this machine can show at that moment.
 *
 *   npx tsx bench/api.ts [--json] [--workers <n>] [--profile <dir>] [--config-only]   (npm run bench -- api)
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadEnv } from '../platform/env';
import { createApiKeysRepo } from '../adapters/db/repos/api-keys';
import { freePort } from '../platform/net';
import { spawnApi, waitReady } from './api-process';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
const WRK_SCRIPT = fileURLToPath(new URL('./wrk/report.lua', import.meta.url));
const DURATION_S = 10;
/** Interleaved rounds of the config read and its two ceilings, and the length of each load in them. */
const ROUNDS = 3;
const ROUND_S = 6;
const CONNECTIONS = 64;

/** One load run, whichever generator made it. Latencies in milliseconds. */
interface LoadResult {
  requests: number;
  reqPerS: number;
  p50: number;
  p99: number;
  /** Socket errors, timeouts and answers of 400 or more (none are expected on these routes). */
  errors: number;
}

interface LoadOptions {
  headers: Record<string, string>;
  method?: string;
  body?: string;
  durationS?: number;
}

/**
 * wrk (C, one thread, epoll) when installed -- `bash infra/services.sh bench-tools` installs it -- else
 * autocannon. autocannon is Node: it spends a whole core generating the load that the API needs, so on
 * two cores its figures measure the generator as much as the server.
 */
const LOAD_GENERATOR: 'wrk' | 'autocannon' =
  spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined ? 'wrk' : 'autocannon';

function runChild(cmd: string, args: string[], name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`${name} exited ${code}: ${err.slice(-500)}`));
      const last = out.trim().split('\n').at(-1) ?? '';
      if (!last.startsWith('{')) return reject(new Error(`${name} printed no figures: ${out.slice(-300)}`));
      resolve(last);
    });
  });
}

interface WrkReport {
  requests: number;
  requests_per_s: number;
  p50_ms: number;
  p99_ms: number;
  socket_errors: number;
  timeouts: number;
  non_2xx_3xx: number;
}

async function wrk(url: string, opts: LoadOptions): Promise<LoadResult> {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${opts.durationS ?? DURATION_S}s`, '--latency'];
  for (const [k, v] of Object.entries(opts.headers)) args.push('-H', `${k}: ${v}`);
  args.push('-s', WRK_SCRIPT, url);
  let dir: string | undefined;
  if (opts.method || opts.body) {
    args.push('--', opts.method ?? 'GET');
    if (opts.body) {
      dir = mkdtempSync(join(tmpdir(), 'bench-api-'));
      writeFileSync(join(dir, 'body'), opts.body);
      args.push(join(dir, 'body'));
    }
  }
  try {
    const r = JSON.parse(await runChild('wrk', args, 'wrk')) as WrkReport;
    return {
      requests: r.requests,
      reqPerS: r.requests_per_s,
      p50: r.p50_ms,
      p99: r.p99_ms,
      errors: r.socket_errors + r.timeouts + r.non_2xx_3xx,
    };
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}

/** autocannon in its own process: the load generator must not share the API's event loop. */
async function cannon(url: string, opts: LoadOptions): Promise<LoadResult> {
  const args = [AUTOCANNON, '-j', '-c', String(CONNECTIONS), '-d', String(opts.durationS ?? DURATION_S)];
  for (const [k, v] of Object.entries(opts.headers)) args.push('-H', `${k}=${v}`);
  if (opts.method) args.push('-m', opts.method);
  if (opts.body) args.push('-b', opts.body);
  args.push(url);
  const r = JSON.parse(await runChild(process.execPath, args, 'autocannon')) as CannonResult;
  return {
    requests: r.requests.total,
    reqPerS: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts + r.non2xx,
  };
}

const load = (url: string, opts: LoadOptions) =>
  LOAD_GENERATOR === 'wrk' ? wrk(url, opts) : cannon(url, opts);

/** CPU seconds (user + system) spent so far by a process and all its descendants (cluster workers). */
function treeCpuSeconds(pid: number): number {
  const TICKS_PER_S = 100; // USER_HZ, 100 on every Linux architecture Node runs on
  let ticks = 0;
  const visit = (p: number) => {
    try {
      // Fields after the parenthesized command: state is [0], utime [11], stime [12].
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
      for (const t of readdirSync(`/proc/${p}/task`)) {
        const kids = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim();
        for (const k of kids ? kids.split(' ') : []) visit(Number(k));
      }
    } catch {
      // gone meanwhile, or no /proc (not Linux): counted as nothing
    }
  };
  visit(pid);
  return ticks / TICKS_PER_S;
}

/** A load run with the server's CPU time per answered request beside it (robust on a shared machine). */
async function measured(pid: number, url: string, opts: LoadOptions) {
  const before = treeCpuSeconds(pid);
  const r = await load(url, opts);
  const cpuUs = ((treeCpuSeconds(pid) - before) * 1e6) / Math.max(1, r.requests);
  return { ...r, cpuUsPerReq: Math.round(cpuUs) };
}

/**
 * A ceiling server beside the figures, on the same machine, in as many processes (node:cluster) as the
 * API has workers: the empty Hono app, or node:http writing the route's answer (serveCeiling). Kept
 * running, so the rounds below can load it between loads of the API.
 */
async function startCeiling(
  body: string,
  processes: number,
  kind: CeilingKind,
): Promise<{ url: string; pid: number; stop(): void }> {
  const port = await freePort();
  const server = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      '--ceiling-server',
      String(port),
      String(processes),
      kind,
    ],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, BENCH_CEILING_BODY: body } },
  );
  const url = `http://127.0.0.1:${port}/c`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (
      await fetch(url).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, pid: server.pid!, stop: () => server.kill('SIGTERM') };
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/**
 * `hono`: an empty Hono app answering with two headers. `node-http`: node:http alone, writing the answer
 * the config route's fast path writes (every common header, ETag, cache-control): what any Node server
 * pays for this exact response, with nothing of ours in between.
 */
type CeilingKind = 'hono' | 'node-http';

async function serveCeiling(port: number, processes: number, kind: CeilingKind): Promise<void> {
  const { default: cluster } = await import('node:cluster');
  if (cluster.isPrimary && processes > 1) {
    // Workers exit with the primary (their IPC channel closes).
    for (let i = 0; i < processes; i++) cluster.fork();
    return;
  }
  const body = process.env.BENCH_CEILING_BODY ?? '{}';
  if (kind === 'node-http') {
    const { createServer } = await import('node:http');
    const { randomUUID } = await import('node:crypto');
    const { commonHeaderList } = await import('../api/lib/headers');
    const { rateLimitHeaders } = await import('../api/middleware/rate-limit');
    const bytes = Buffer.from(body);
    const limits = rateLimitHeaders({
      allowed: true,
      limit: 60_000_000,
      remaining: 59_999_000,
      resetSeconds: 1,
      retryAfterSeconds: 0,
    });
    createServer((_req, res) => {
      const headers = commonHeaderList(randomUUID(), limits);
      headers.push('content-type', 'application/json', 'etag', '"ceiling"', 'cache-control', 'no-cache');
      headers.push('content-length', String(bytes.length));
      res.writeHead(200, headers);
      res.end(bytes);
    }).listen(port, '127.0.0.1');
    return;
  }
  const { Hono } = await import('hono');
  const { serve } = await import('@hono/node-server');
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
  // --workers <n>: API_WORKERS of the API process (default 2, one per core of the bench machine).
  const workersAt = process.argv.indexOf('--workers');
  const workers = workersAt > 0 ? Number(process.argv[workersAt + 1]) : 2;
  if (!Number.isInteger(workers) || workers < 1) throw new Error('--workers takes a whole number >= 1');
  // --profile <dir>: the API process writes a V8 CPU profile there on exit, to see where the time goes.
  const profileAt = process.argv.indexOf('--profile');
  const profile =
    profileAt > 0 ? ['--cpu-prof', `--cpu-prof-dir=${process.argv[profileAt + 1] ?? '.local/profiles'}`] : [];
  const api = spawnApi({ databaseUrl: dbUrl.toString(), port, workers, nodeArgs: profile });
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

    figures.load_generator = LOAD_GENERATOR;
    figures.api_workers = workers;
    const firstBody = await first.text();
    const hono = await startCeiling(firstBody, workers, 'hono');
    const nodeHttp = await startCeiling(firstBody, workers, 'node-http');
    try {
      // Warm-up (JIT, key cache, pools, leases), then ROUNDS rounds of the route and both ceilings one
      // after the other: this machine's speed drifts by a third within minutes, and a drift then moves
      // all three alike. Medians of the rounds are reported, and the median of each round's ratio.
      await load(url, { headers: auth, durationS: 3 });
      await load(nodeHttp.url, { headers: {}, durationS: 2 });
      await load(hono.url, { headers: {}, durationS: 2 });
      type Measured = Awaited<ReturnType<typeof measured>>;
      const rounds: { route: Measured; raw: Measured; bare: Measured }[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const route = await measured(api.pid!, url, { headers: auth, durationS: ROUND_S });
        const raw = await measured(nodeHttp.pid, nodeHttp.url, { headers: {}, durationS: ROUND_S });
        const bare = await measured(hono.pid, hono.url, { headers: {}, durationS: ROUND_S });
        rounds.push({ route, raw, bare });
      }
      const med = (pick: (r: (typeof rounds)[0]) => number) => median(rounds.map(pick));
      figures.rounds = ROUNDS;
      figures.round_s = ROUND_S;
      figures.config_200_req_per_s = Math.round(med((r) => r.route.reqPerS));
      figures.config_200_req_per_s_rounds = rounds.map((r) => Math.round(r.route.reqPerS)).join(' ');
      figures.config_200_p50_ms = med((r) => r.route.p50);
      figures.config_200_p99_ms = med((r) => r.route.p99);
      figures.config_200_errors = rounds.reduce((n, r) => n + r.route.errors, 0);
      figures.config_200_server_cpu_us_per_req = med((r) => r.route.cpuUsPerReq);
      figures.ceiling_node_http_same_answer_req_per_s = Math.round(med((r) => r.raw.reqPerS));
      figures.ceiling_node_http_same_answer_req_per_s_rounds = rounds
        .map((r) => Math.round(r.raw.reqPerS))
        .join(' ');
      figures.ceiling_node_http_same_answer_p99_ms = med((r) => r.raw.p99);
      figures.ceiling_node_http_same_answer_server_cpu_us_per_req = med((r) => r.raw.cpuUsPerReq);
      figures.ceiling_bare_hono_processes = workers;
      figures.ceiling_bare_hono_req_per_s = Math.round(med((r) => r.bare.reqPerS));
      figures.ceiling_bare_hono_p99_ms = med((r) => r.bare.p99);
      figures.ceiling_bare_hono_server_cpu_us_per_req = med((r) => r.bare.cpuUsPerReq);
      figures.config_200_share_of_node_http =
        Math.round(med((r) => r.route.reqPerS / r.raw.reqPerS) * 1000) / 1000;
      figures.config_200_share_of_ceiling =
        Math.round(med((r) => r.route.reqPerS / r.bare.reqPerS) * 1000) / 1000;
      // No route can beat node:http writing the same answer on the same cores: say so when that is short.
      const rawRate = figures.ceiling_node_http_same_answer_req_per_s;
      figures.target_reachable_here =
        rawRate >= 20_000
          ? 'yes'
          : `no: node:http alone, writing this answer, serves ${rawRate}/s here (load generator on the same cores)`;
    } finally {
      hono.stop();
      nodeHttp.stop();
    }
    const configOnly = process.argv.includes('--config-only');
    if (!configOnly) {
      const cached = await measured(api.pid!, url, { headers: { ...auth, 'if-none-match': etag } });
      figures.config_304_req_per_s = Math.round(cached.reqPerS);
      figures.config_304_p50_ms = cached.p50;
      figures.config_304_p99_ms = cached.p99;
      figures.config_304_errors = cached.errors;
      figures.config_304_server_cpu_us_per_req = cached.cpuUsPerReq;
    }
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
      const ingest = await measured(api.pid!, `${base}/v1/events`, {
        headers: { ...auth, 'content-type': 'application/json' },
        method: 'POST',
        body: JSON.stringify(batch),
      });
      figures.ingest_batch10_req_per_s = Math.round(ingest.reqPerS);
      figures.ingest_batch10_events_per_s = Math.round(ingest.reqPerS * batch.length);
      figures.ingest_batch10_p99_ms = ingest.p99;
      figures.ingest_batch10_errors = ingest.errors;
      figures.ingest_batch10_server_cpu_us_per_req = ingest.cpuUsPerReq;
    } else {
      figures.ingest_batch10 = `not measured: POST /v1/events answered ${probe.status}`;
    }
    figures.connections = CONNECTIONS;
    figures.duration_s = DURATION_S;
    figures.target_config_req_per_s = 20_000;
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
  await serveCeiling(
    Number(process.argv[ceilingAt + 1]),
    Number(process.argv[ceilingAt + 2] ?? 1),
    process.argv[ceilingAt + 3] === 'node-http' ? 'node-http' : 'hono',
  );
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const figures = await runApiBench();
  if (process.argv.includes('--json')) console.log(JSON.stringify(figures));
  else console.table(figures);
}
