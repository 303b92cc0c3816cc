/**
 * `npm run demo`: the whole loop on a running system, in a few minutes. It uses the API at
 * LLMOPT_API_URL (default http://127.0.0.1:8080) or starts `npm start` when nothing answers there, then:
 *
 *   1. subscribes a local receiver to rollout webhooks (signatures verified);
 *   2. creates two targets, each with a premium and an economy arm of equal quality, and serves simulated
 *      traffic to both under their live routing configs;
 *   3. runs optimization cycles until each target rolls a cheaper arm out as a canary;
 *   4. on the first target the economy arm keeps its quality: the canary is promoted;
 *      on the second it degrades once its canary serves: the judge fails it and it is rolled back;
 *   5. waits for the webhook of each outcome.
 *
 * Every stage prints one line, with the Temporal Web UI link of each run. Exit 0 when all three outcomes
 * happened, 1 otherwise. `runDemo` is the same scenario as a library: tests/e2e/demo.test.ts runs it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Command } from 'commander';
import {
  createSimulator,
  driveSimulator,
  httpSimulatorIo,
  type ArmProfile,
  type Simulator,
} from './simulate';

/** Both arms answer alike; economy costs a fifth. */
const PREMIUM: ArmProfile = { latencyMs: 900, errorRate: 0.01, quality: 0.86, costUsd: 0.01 };
const ECONOMY: ArmProfile = { latencyMs: 700, errorRate: 0.01, quality: 0.86, costUsd: 0.002 };
/** What the economy arm of the second target turns into once its canary serves. */
const DEGRADED: ArmProfile = { latencyMs: 2500, errorRate: 0.2, quality: 0.55, costUsd: 0.002 };

/**
 * Short stages so a canary is judged in well under a minute, with the judge's usual rules; rollouts of
 * real targets keep the presets (hours of bake).
 */
const DEMO_POLICY = {
  rollout: {
    preset: 'custom',
    stages: [
      { canary_bps: 2000, bake_seconds: 15 },
      { canary_bps: 5000, bake_seconds: 15 },
      { canary_bps: 10000, bake_seconds: 15 },
    ],
    bake_seconds: 15,
    min_samples_per_arm: 300,
    max_bake_extensions: 3,
  },
};

const FINAL = new Set(['promoted', 'rolled_back', 'aborted', 'failed']);

/** How long a target's traffic may fail without one success before the demo gives up. */
const TRAFFIC_FAILURE_MS = 30_000;

export interface DemoOptions {
  api: string;
  apiKey: string;
  /** One progress line; the demo prints with console.log. */
  log: (line: string) => void;
  /** Give up after this long (ms). */
  timeoutMs?: number;
  /** Requests per second served to each target. */
  rps?: number;
  /** Seconds between optimization cycles of a target that has not started its rollout yet. */
  cycleEverySeconds?: number;
  /** Prefix of the targets' names (unique per run). */
  name?: string;
}

export interface DemoOutcome {
  /** The promoted rollout of the first target, or null. */
  promoted: string | null;
  /** The rolled-back rollout of the second target, or null. */
  rolledBack: string | null;
  /** Webhook event types the receiver got with a valid signature, by rollout id. */
  webhooks: Record<string, string[]>;
  ok: boolean;
  seconds: number;
  targets: [string, string];
}

interface Json<T = Record<string, unknown>> {
  status: number;
  body: T;
}

/** The parts of the API's answers the demo reads. */
interface RolloutView {
  id: string;
  canary_arm: string;
  state: string;
  current_stage: number;
  from_version: number;
  stages: { canary_bps: number }[];
  verdicts: { outcome?: string }[];
  workflow?: { temporal_ui_url: string };
}
interface OptimizationView {
  id: string;
  status: string;
  temporal_ui_url?: string;
  decisions: { kind: string; status: string; explanation: string }[];
}

/** JSON over HTTP to the API with a bearer key; a body that is not JSON is answered as text. */
export function apiClient(api: string, apiKey: string) {
  return async <T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<Json<T>> => {
    const res = await fetch(`${api}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${apiKey}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // a non-JSON answer stays text
    }
    return { status: res.status, body: parsed as T };
  };
}

function expect2xx<T>(r: Json<T>, what: string): Json<T> {
  if (r.status < 200 || r.status > 299) {
    const p = r.body as { detail?: string; title?: string } | string | null;
    const detail = typeof p === 'object' && p ? (p.detail ?? p.title) : p;
    throw new Error(`${what} answered ${r.status}: ${String(detail)}`);
  }
  return r;
}

/** A local HTTP receiver that checks each delivery's X-LLMOpt-Signature against the subscription secret. */
async function startReceiver(
  onEvent: (type: string, body: { target?: unknown; data?: { rollout_id?: unknown } }) => void,
) {
  let secret = '';
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const header = String(req.headers['x-llmopt-signature'] ?? '');
      const parts = new Map(header.split(',').map((p) => p.trim().split('=') as [string, string]));
      const t = parts.get('t') ?? '';
      const expected = createHmac('sha256', secret).update(`${t}.${raw}`).digest();
      const signed = header
        .split(',')
        .map((p) => p.trim())
        .filter((p) => p.startsWith('v1='))
        .some((p) => {
          const got = Buffer.from(p.slice(3), 'hex');
          return got.length === expected.length && timingSafeEqual(got, expected);
        });
      if (!signed) {
        res.writeHead(401).end();
        return;
      }
      res.writeHead(204).end();
      try {
        onEvent(String(req.headers['x-llmopt-event-type'] ?? ''), JSON.parse(raw) as { target?: unknown });
      } catch {
        // a body that is not JSON is not an event we wait for
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/llmopt`,
    setSecret: (s: string) => {
      secret = s;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * The webhook receiver, subscribed to the rollouts of the demo's targets (each event it verifies is
 * said and kept under its rollout), and the two targets created.
 */
async function setUp(
  call: ReturnType<typeof apiClient>,
  targets: [string, string],
  webhooks: Record<string, string[]>,
  say: (line: string) => void,
) {
  const receiver = await startReceiver((type, event) => {
    const rollout = typeof event.data?.rollout_id === 'string' ? event.data.rollout_id : '';
    if (typeof event.target !== 'string' || !targets.includes(event.target)) return;
    (webhooks[rollout] ??= []).push(type);
    say(`webhook ${type} received for ${rollout || event.target} (signature verified)`);
  });
  const sub = expect2xx(
    await call<{ id: string; secret: string }>('POST', '/v1/webhooks', {
      url: receiver.url,
      events: ['rollout.started', 'rollout.promoted', 'rollout.rolled_back'],
      targets,
      description: 'npm run demo',
    }),
    'POST /v1/webhooks',
  );
  receiver.setSecret(sub.body.secret);
  say(`webhook receiver ${receiver.url} subscribed (${sub.body.id})`);

  const arms = [
    { id: 'premium', provider: 'openai', model: 'gpt-4o' },
    { id: 'economy', provider: 'openai', model: 'gpt-4o-mini' },
  ];
  for (const name of targets) {
    expect2xx(
      await call('POST', '/v1/targets', {
        name,
        description: 'created by npm run demo',
        arms,
        policy: DEMO_POLICY,
      }),
      `POST /v1/targets (${name})`,
    );
  }
  say(
    `targets ${targets[0]} and ${targets[1]}: premium ($${PREMIUM.costUsd}/request) serves all traffic; economy ($${ECONOMY.costUsd}) has the same quality`,
  );
  return receiver;
}

/**
 * An application keeps serving through a failed config read or report, as the SDK does; the demo says
 * so and gives up only when a target's traffic has failed for TRAFFIC_FAILURE_MS without a success.
 */
function tolerant(say: (line: string) => void, target: string, sim: Simulator): Simulator {
  let failingSince: number | null = null;
  return {
    ...sim,
    async runBatch(n: number) {
      try {
        const r = await sim.runBatch(n);
        failingSince = null;
        return r;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (failingSince === null) say(`${target}: traffic batch failed (${message}); retrying`);
        failingSince ??= Date.now();
        if (Date.now() - failingSince > TRAFFIC_FAILURE_MS) throw err;
        return { version: -1, byArm: {} };
      }
    },
  };
}

export async function runDemo(o: DemoOptions): Promise<DemoOutcome> {
  const t0 = Date.now();
  const deadline = t0 + (o.timeoutMs ?? 5 * 60_000);
  const clock = () => {
    const s = Math.round((Date.now() - t0) / 1000);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  };
  const say = (line: string) => o.log(`[${clock()}] ${line}`);
  const call = apiClient(o.api, o.apiKey);
  const base = o.name ?? `demo-${Date.now().toString(36)}`;
  const targets: [string, string] = [`${base}-savings`, `${base}-regression`];
  const webhooks: Record<string, string[]> = {};

  const receiver = await setUp(call, targets, webhooks, say);

  // Each target's economy profile, read per request: the second one degrades once its canary serves.
  const profiles = targets.map(() => ({ premium: PREMIUM, economy: ECONOMY }));
  let stopping = false;
  const rps = o.rps ?? 100;
  const canaryVersion: (number | null)[] = [null, null];
  const trafficErrors: Error[] = [];
  const traffic = targets.map((target, i) =>
    driveSimulator(
      tolerant(
        say,
        target,
        createSimulator({
          target,
          arms: profiles[i]!,
          users: 20_000,
          seed: 7 + i,
          ...httpSimulatorIo({ api: o.api, target, segment: 'default', apiKey: o.apiKey }),
        }),
      ),
      {
        rps,
        ticksPerSecond: 4,
        stop: () => stopping,
        onBatch: ({ version }) => {
          const v = canaryVersion[i];
          if (i === 1 && v != null && version >= v && profiles[1]!.economy !== DEGRADED) {
            profiles[1]!.economy = DEGRADED;
            say(`${target}: economy degrades now that its canary serves (20% errors, quality 0.55)`);
          }
        },
      },
    ).catch((err: unknown) => {
      trafficErrors.push(err instanceof Error ? err : new Error(String(err)));
    }),
  );
  say(`traffic: ${rps} requests/s to each target, reported to POST /v1/events`);

  /**
   * A read the loop polls: a failed answer is said and read again on the next round, so one refused or
   * lost read does not end the demo (the deadline still does).
   */
  const poll = async <T>(path: string): Promise<T | null> => {
    const r = await call<T>('GET', path).catch((err: unknown) => ({
      status: 0,
      body: String(err) as unknown as T,
    }));
    if (r.status >= 200 && r.status < 300) return r.body;
    const detail = (r.body as { detail?: string } | null)?.detail ?? String(r.body);
    say(`GET ${path} answered ${r.status}: ${detail}; reading again`);
    return null;
  };
  const rolloutOf: (string | null)[] = [null, null];
  const finalState: (string | null)[] = [null, null];
  const lastSeen: string[] = ['', ''];
  const lastCycle = [0, 0];
  const cycleEvery = (o.cycleEverySeconds ?? 20) * 1000;
  const done = () =>
    finalState[0] !== null &&
    finalState[1] !== null &&
    targets.every((_, i) => {
      const id = rolloutOf[i];
      const want = i === 0 ? 'rollout.promoted' : 'rollout.rolled_back';
      return id != null && (webhooks[id] ?? []).includes(want);
    });

  try {
    // Let the first windows fill before the first cycle.
    await new Promise((r) => setTimeout(r, 15_000));
    while (!done() && Date.now() < deadline) {
      if (trafficErrors.length > 0) throw trafficErrors[0]!;
      for (let i = 0; i < 2; i++) {
        const target = targets[i]!;
        if (rolloutOf[i] === null && Date.now() - lastCycle[i]! >= cycleEvery) {
          lastCycle[i] = Date.now();
          const started = expect2xx(
            await call<OptimizationView>('POST', '/v1/optimizations', { target }),
            `POST /v1/optimizations (${target})`,
          );
          const id = started.body.id;
          say(`${target}: cycle ${id} started`);
          const state = await waitFor(
            async () => {
              const r = await poll<OptimizationView>(`/v1/optimizations/${id}`);
              return r === null || r.status === 'running' ? null : r;
            },
            Math.min(deadline, Date.now() + 60_000),
          );
          if (!state) continue;
          say(`${target}: cycle ${state.status} — ${state.temporal_ui_url ?? ''}`);
          for (const d of state.decisions)
            say(`${target}: decision ${d.kind} (${d.status}): ${d.explanation}`);
        }
        if (rolloutOf[i] === null) {
          const list = await poll<{ items: RolloutView[] }>(
            `/v1/rollouts?target=${encodeURIComponent(target)}`,
          );
          const switchRollout = list?.items.find((r) => r.canary_arm === 'economy');
          const detail = switchRollout ? await poll<RolloutView>(`/v1/rollouts/${switchRollout.id}`) : null;
          if (switchRollout && detail) {
            rolloutOf[i] = switchRollout.id;
            // Stage 1 writes the version after the one the rollout started from.
            canaryVersion[i] = detail.from_version + 1;
            say(
              `${target}: rollout ${switchRollout.id} started, economy canaried against premium — ${detail.workflow?.temporal_ui_url ?? ''}`,
            );
          }
        }
        const id = rolloutOf[i];
        if (id !== null && finalState[i] === null) {
          const r = await poll<RolloutView>(`/v1/rollouts/${id}`);
          if (r === null) continue;
          const { state, current_stage: at, verdicts, stages } = r;
          const seen = `${state}/${at}/${verdicts.length}`;
          if (seen !== lastSeen[i]) {
            lastSeen[i] = seen;
            const verdict = verdicts.at(-1);
            const stage = stages[at];
            say(
              `${target}: rollout ${state}` +
                (stage && !FINAL.has(state) ? `, stage ${at + 1} at ${stage.canary_bps / 100}%` : '') +
                (verdict?.outcome ? `; last verdict ${verdict.outcome}` : ''),
            );
          }
          if (FINAL.has(state)) finalState[i] = state;
        }
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    stopping = true;
    await Promise.all(traffic);
    await receiver.close();
  }
  const promoted = finalState[0] === 'promoted' ? rolloutOf[0]! : null;
  const rolledBack = finalState[1] === 'rolled_back' ? rolloutOf[1]! : null;
  return {
    promoted,
    rolledBack,
    webhooks,
    ok: done() && promoted !== null && rolledBack !== null,
    seconds: Math.round((Date.now() - t0) / 1000),
    targets,
  };
}

/** Polls `get` once a second until it answers something other than null, or the deadline passes. */
async function waitFor<T>(get: () => Promise<T | null>, deadline: number): Promise<T | null> {
  while (Date.now() < deadline) {
    const v = await get();
    if (v !== null) return v;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return null;
}

async function ready(api: string): Promise<boolean> {
  const r = await fetch(`${api}/readyz`).catch(() => null);
  return r?.status === 200;
}

/** Starts `npm start` in the background (its output in .local/logs/demo-npm-start.log) and waits for it. */
async function startSystem(api: string, log: (l: string) => void): Promise<ChildProcess> {
  mkdirSync(join('.local', 'logs'), { recursive: true });
  const out = openSync(join('.local', 'logs', 'demo-npm-start.log'), 'a');
  log(`nothing answers at ${api}: starting npm start (output in .local/logs/demo-npm-start.log)`);
  const child = spawn('bash', ['infra/start.sh'], { stdio: ['ignore', out, out], detached: true });
  const until = Date.now() + 5 * 60_000;
  while (!(await ready(api))) {
    if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}`);
    if (Date.now() > until) throw new Error('npm start was not ready within 5 minutes');
    await new Promise((r) => setTimeout(r, 1000));
  }
  return child;
}

async function main(): Promise<void> {
  const o = new Command()
    .option('--api-url <url>', 'API base URL', process.env.LLMOPT_API_URL ?? 'http://127.0.0.1:8080')
    .option('--api-key <key>', 'an admin API key (default: LLMOPT_API_KEY, then .local/data/admin-api-key)')
    .option('--rps <n>', 'requests per second to each target', '100')
    .option('--timeout <seconds>', 'give up after this long', '300')
    .parse()
    .opts<{ apiUrl: string; apiKey?: string; rps: string; timeout: string }>();
  const log = (l: string) => console.log(l);
  let system: ChildProcess | null = null;
  if (!(await ready(o.apiUrl))) system = await startSystem(o.apiUrl, log);
  const keyFile = join('.local', 'data', 'admin-api-key');
  const apiKey =
    o.apiKey ??
    process.env.LLMOPT_API_KEY ??
    (existsSync(keyFile) ? readFileSync(keyFile, 'utf8').trim() : '');
  if (!apiKey)
    throw new Error(`no API key: pass --api-key, set LLMOPT_API_KEY, or run npm start once (${keyFile})`);
  const outcome = await runDemo({
    api: o.apiUrl,
    apiKey,
    log,
    rps: Number(o.rps),
    timeoutMs: Number(o.timeout) * 1000,
  });
  log('');
  log(`cheaper arm canaried and promoted:  ${outcome.promoted ?? 'no'}`);
  log(`degraded arm rolled back:           ${outcome.rolledBack ?? 'no'}`);
  log(`webhooks delivered:                 ${Object.values(outcome.webhooks).flat().join(', ') || 'none'}`);
  log(`${outcome.ok ? 'demo complete' : 'demo incomplete'} in ${outcome.seconds} s`);
  if (system)
    log(
      `npm start (pid ${system.pid}) keeps running for you to look around; Ctrl-C in its terminal or kill -INT -${system.pid} stops it`,
    );
  system?.unref();
  process.exit(outcome.ok ? 0 : 1);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
