/**
 * `npm run bench -- gateway`: the gateway's added latency and throughput, side by side with the same
 * load sent straight to the provider (the ceiling). The API runs as deployed (api/main.ts, its own
 * database, Redis and the ingest front door), the provider is a stub speaking OpenAI's wire format that
 * answers in a fixed time, in a process of its own, and the load comes from autocannon in a third.
 * Added latency = the gateway's percentile minus the stub's at the same load.
 *
 * Not yet measured here: streaming time to first token, a peer gateway, a target rate of 1,000 req/s
 * (autocannon runs closed-loop at a fixed connection count).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createApiKeysRepo } from '../adapters/db/repos/api-keys';
import { loadEnv } from '../platform/env';
import { freePort } from '../platform/net';
import { spawnApi, waitReady } from './api-process';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
const STUB_LATENCY_MS = 5;
const CONNECTIONS = 32;
const DURATION_S = 8;

const COMPLETION = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 0,
  model: 'bench',
  choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 },
});

/** The stub provider: every POST answers the same completion after STUB_LATENCY_MS. */
function serveStub(port: number): void {
  createServer((req, res) => {
    req.resume();
    req.on('end', () =>
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(COMPLETION);
      }, STUB_LATENCY_MS),
    );
  }).listen(port, '127.0.0.1');
}

if (process.env.BENCH_GATEWAY_STUB_PORT) serveStub(Number(process.env.BENCH_GATEWAY_STUB_PORT));

interface Load {
  reqPerS: number;
  p50: number;
  p99: number;
  errors: number;
}

function autocannon(url: string, headers: Record<string, string>, body: string): Promise<Load> {
  const args = [
    AUTOCANNON,
    '-j',
    '-c',
    String(CONNECTIONS),
    '-d',
    String(DURATION_S),
    '-m',
    'POST',
    '-b',
    body,
  ];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}=${v}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited with ${code}`));
      const r = JSON.parse(out) as {
        requests: { average: number };
        latency: { p50: number; p99: number };
        errors: number;
        timeouts: number;
        non2xx: number;
      };
      resolve({
        reqPerS: r.requests.average,
        p50: r.latency.p50,
        p99: r.latency.p99,
        errors: r.errors + r.timeouts + r.non2xx,
      });
    });
  });
}

async function put(url: string, key: string, body: unknown): Promise<void> {
  const r = await fetch(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
  if (r.status >= 300) throw new Error(`${url} answered ${r.status}: ${await r.text()}`);
}

export async function runGatewayBench(): Promise<Record<string, number | string>> {
  const env = loadEnv();
  const dbName = `optimizer_bench_gateway_${process.pid}`;
  const admin = new pg.Client({ connectionString: env.DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const dbUrl = new URL(env.DATABASE_URL);
  dbUrl.pathname = `/${dbName}`;
  const [port, stubPort] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${port}`;
  const children: ChildProcess[] = [];
  try {
    children.push(
      spawn(process.execPath, ['--import', 'tsx', 'bench/gateway.ts'], {
        cwd: ROOT,
        stdio: 'ignore',
        env: { ...process.env, BENCH_GATEWAY_STUB_PORT: String(stubPort) },
      }),
    );
    const api = spawnApi({ databaseUrl: dbUrl.toString(), port, workers: 1 });
    children.push(api);
    await waitReady(base, api);
    const db = new pg.Pool({ connectionString: dbUrl.toString(), max: 2 });
    const keys = createApiKeysRepo(db);
    const adminKey = (await keys.create({ name: 'bench-admin', roles: ['admin'], createdBy: 'bench' })).key;
    const appKey = (await keys.create({ name: 'bench-app', roles: ['ingest'], createdBy: 'bench' })).key;
    await db.end();
    const stub = `http://127.0.0.1:${stubPort}/v1`;
    await put(`${base}/v1/providers/stub`, adminKey, { api: 'openai', base_url: stub });
    const created = await fetch(`${base}/v1/targets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminKey}` },
      body: JSON.stringify({ name: 'bench-gw', arms: [{ id: 'only', provider: 'stub', model: 'bench' }] }),
    });
    if (created.status !== 201) throw new Error(`creating the target answered ${created.status}`);
    const body = JSON.stringify({ model: 'bench-gw', messages: [{ role: 'user', content: 'hi' }] });
    const json = { 'content-type': 'application/json' };
    const direct = await autocannon(`${stub}/chat/completions`, json, body);
    const gateway = await autocannon(
      `${base}/gateway/openai/v1/chat/completions`,
      { ...json, authorization: `Bearer ${appKey}` },
      body,
    );
    return {
      'stub latency (ms)': STUB_LATENCY_MS,
      connections: CONNECTIONS,
      'direct req/s': Math.round(direct.reqPerS),
      'direct p50 / p99 (ms)': `${direct.p50} / ${direct.p99}`,
      'gateway req/s (1 API process)': Math.round(gateway.reqPerS),
      'gateway p50 / p99 (ms)': `${gateway.p50} / ${gateway.p99}`,
      'added p50 (ms)': gateway.p50 - direct.p50,
      'added p99 (ms)': gateway.p99 - direct.p99,
      'gateway errors': gateway.errors,
    };
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
  }
}
