/**
 * The default path, as a new user meets it: `npm start` with nothing configured — the supervisor run as
 * infra/start.sh runs it (the bundled build), starting its own Temporal dev server and PostgreSQL on free
 * ports of this test, so it meets neither a developer's `npm start` nor the shared test services — under
 * concurrent load: several targets with several segments each, simulator traffic on every segment,
 * cycles and canaries at the same time, and conflicting API writes. Pass: no failed workflow, no 5xx,
 * exactly one winner per conflicting write, aggregates equal to what was sent. Then the console: the
 * addresses and one human line per notable event, the JSON in log files; a killed process restarted and
 * said so; Ctrl-C stopping everything.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator, driveSimulator, httpSimulatorIo, type ArmProfile } from '../../cli/simulate';
import type { RoutingConfig } from '../../domain/model';
import { TASK_QUEUES, WORKFLOW_TYPES } from '../../domain/names';
import { buildIfStale } from '../../infra/build';
import { createPool, type Db } from '../../adapters/db/pool';
import { createDecisionsRepo } from '../../adapters/db/repos/decisions';
import { createTargetsRepo } from '../../adapters/db/repos/targets';
import type { RolloutInput, RolloutResult } from '../../workflows/messages';
import { scenarioPolicy } from '../helpers/canary-scenario';
import { eventually, uniqueName } from '../helpers/env';
import { npmStartProcesses, spawnNpmStart, type NpmStart } from '../helpers/npm-start';
import type { Spawned } from '../helpers/process';
import { seedApprovedRollout } from '../helpers/rollout';

const SEGMENTS = ['default', 'summarize', 'classify'];
const PROCESSES = ['api', 'stream', 'orchestration-worker', 'analysis-worker', 'integrations-worker'];
const BIG: ArmProfile = { latencyMs: 800, errorRate: 0.01, quality: 0.8, costUsd: 0.004 };
const SMALL: ArmProfile = { latencyMs: 600, errorRate: 0.01, quality: 0.8, costUsd: 0.001 };
/** Requests per second on a canaried segment, and on every other segment. */
const CANARY_RPS = 60;
const OTHER_RPS = 8;
const CONTENDERS = 6;

let root: string;
let supervisor: Spawned;
let started: NpmStart;
let ports: NpmStart['ports'];
let api: string;
let adminKey: string;
let db: Db;
let connection: Connection;
let client: Client;
/** Every status the API answered this test's own calls. */
const statuses: number[] = [];

/** JSON over HTTP to the API with the admin key; every status is kept for the no-5xx check. */
async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${api}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${adminKey}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  statuses.push(res.status);
  const text = await res.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read whatever JSON a route answers
  const parsed: any = text ? JSON.parse(text) : null;
  return { status: res.status, body: parsed, etag: res.headers.get('etag') };
}

const lines = () => supervisor.output().split('\n');

beforeAll(async () => {
  // npm start runs the bundled build (infra/start.sh builds it first).
  await buildIfStale();
  root = mkdtempSync(join(tmpdir(), 'llmopt-default-path-'));
  started = await spawnNpmStart(root);
  ({ supervisor, ports } = started);
  await eventually(
    async () => {
      if (supervisor.child.exitCode !== null) throw new Error(`npm start exited:\n${supervisor.output()}`);
      return supervisor.output().includes(started.readyLine);
    },
    { timeoutMs: 240_000, intervalMs: 500, what: 'npm start to print its addresses' },
  );
  api = `http://127.0.0.1:${ports.PORT}`;
  adminKey = readFileSync(join(root, 'data', 'admin-api-key'), 'utf8').trim();
  db = createPool(`postgres://postgres@127.0.0.1:${ports.EMBEDDED_POSTGRES_PORT}/postgres`, 4);
  connection = await Connection.connect({ address: `127.0.0.1:${ports.EMBEDDED_TEMPORAL_PORT}` });
  client = new Client({ connection, namespace: 'default' });
}, 300_000);

afterAll(async () => {
  await connection?.close();
  await db?.end();
  if (supervisor && supervisor.child.exitCode === null && supervisor.child.signalCode === null) {
    supervisor.child.kill('SIGINT');
    await Promise.race([supervisor.exited, new Promise((r) => setTimeout(r, 60_000))]);
  }
  // Whatever a failed test left running (the servers run in process groups of their own).
  if (started)
    for (const pid of npmStartProcesses(started))
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
  if (root) rmSync(root, { recursive: true, force: true });
}, 90_000);

describe('npm start with nothing configured', () => {
  const targets = Array.from({ length: 4 }, () => uniqueName('dp'));
  const served = new Map<string, number>();
  const key = (target: string, segment: string, arm: string) => `${target}/${segment}/${arm}`;

  it('prints its addresses once every process is ready', () => {
    const out = supervisor.output();
    expect(out).toContain('llm-auto-optimizer is running');
    expect(out).toContain(`API              ${api}`);
    expect(out).toContain(`Temporal Web UI  http://127.0.0.1:${ports.TEMPORAL_UI_PORT}`);
    expect(out).toContain(
      `PostgreSQL       postgres://postgres@127.0.0.1:${ports.EMBEDDED_POSTGRES_PORT}/postgres   (embedded PostgreSQL 15`,
    );
    const block = out.indexOf('llm-auto-optimizer is running');
    for (const name of PROCESSES) {
      const ready = out.search(new RegExp(`\\d\\d:\\d\\d:\\d\\d  ${name} ready \\(`));
      expect(ready, `${name} ready`).toBeGreaterThan(-1);
      expect(ready).toBeLessThan(block);
    }
  });

  it('gives each conflicting write exactly one winner', async () => {
    const body = (name: string) => ({
      name,
      arms: [
        { id: 'big', provider: 'openai', model: 'gpt-4o' },
        { id: 'small', provider: 'openai', model: 'gpt-4o-mini' },
      ],
      segments: SEGMENTS,
      // The scenarios' short stages, with a sample minimum that this test's bounded traffic reaches.
      policy: { rollout: { ...scenarioPolicy(10).rollout, min_samples_per_arm: 30 } },
    });
    const contested = uniqueName('dp-same');
    const creations = await Promise.all(
      Array.from({ length: CONTENDERS }, () => call('POST', '/v1/targets', body(contested))),
    );
    expect(creations.map((c) => c.status).sort()).toEqual([201, ...Array(CONTENDERS - 1).fill(409)]);

    const created = await Promise.all(targets.map((t) => call('POST', '/v1/targets', body(t))));
    expect(created.map((c) => c.status)).toEqual(targets.map(() => 201));

    const path = `/v1/targets/${targets[3]}/config?segment=classify`;
    const current = await call('GET', path);
    expect(current.status).toBe(200);
    const puts = await Promise.all(
      Array.from({ length: CONTENDERS }, (_, i) =>
        call(
          'PUT',
          path,
          { weights: { big: 10000 - (i + 1) * 100, small: (i + 1) * 100 } },
          {
            'if-match': current.etag!,
          },
        ),
      ),
    );
    expect(puts.map((p) => p.status).sort()).toEqual([200, ...Array(CONTENDERS - 1).fill(412)]);
    const winner = puts.find((p) => p.status === 200)!.body as RoutingConfig;
    expect((await call('GET', path)).body.weights).toEqual(winner.weights);
  }, 60_000);

  it('serves traffic, cycles and canaries at once: no failed workflow, exact aggregates', async () => {
    let done = false;
    const failures: Error[] = [];
    const traffic = targets.flatMap((target, t) =>
      SEGMENTS.map((segment) => {
        const sim = createSimulator({
          target,
          segment,
          arms: { big: BIG, small: SMALL },
          users: 5000,
          seed: 100 + t * 10 + SEGMENTS.indexOf(segment),
          ...httpSimulatorIo({ api, target, segment, apiKey: adminKey }),
        });
        const canaried = t < 2 && segment === 'default';
        return driveSimulator(sim, {
          rps: canaried ? CANARY_RPS : OTHER_RPS,
          ticksPerSecond: 2,
          stop: () => done,
          onBatch: ({ byArm }) => {
            for (const [arm, n] of Object.entries(byArm))
              served.set(key(target, segment, arm), (served.get(key(target, segment, arm)) ?? 0) + n);
          },
        }).catch((err: unknown) => {
          failures.push(err instanceof Error ? err : new Error(String(err)));
        });
      }),
    );
    try {
      // Canaries on the first two targets, as a cycle starts them from an approved decision.
      const repos = { targets: createTargetsRepo(db), decisions: createDecisionsRepo(db) };
      const rollouts: WorkflowHandle[] = [];
      for (const target of targets.slice(0, 2)) {
        const { input, workflowId } = await seedApprovedRollout(repos, target, TASK_QUEUES);
        rollouts.push(
          await client.workflow.start<(i: RolloutInput) => Promise<RolloutResult>>(
            WORKFLOW_TYPES.canaryRollout,
            {
              workflowId,
              taskQueue: TASK_QUEUES.orchestration,
              args: [input],
            },
          ),
        );
      }
      // Cycles on the other two, through the API, once traffic has reached the aggregates.
      await eventually(async () => (served.get(key(targets[3]!, 'default', 'big')) ?? 0) >= OTHER_RPS * 15, {
        timeoutMs: 60_000,
        what: 'fifteen seconds of traffic',
      });
      const cycles = await Promise.all(
        targets.slice(2).map((target) => call('POST', '/v1/optimizations', { target })),
      );
      expect(cycles.map((c) => c.status)).toEqual([202, 202]);
      for (const cycle of cycles) {
        const finished = await eventually(
          async () => {
            const r = await call('GET', `/v1/optimizations/${cycle.body.id}`);
            return ['completed', 'failed'].includes(r.body.status) ? r.body : undefined;
          },
          { timeoutMs: 120_000, intervalMs: 500, what: `cycle ${cycle.body.id}` },
        );
        expect(finished.status, JSON.stringify(finished.failure)).toBe('completed');
      }
      const results = await Promise.all(rollouts.map((h) => h.result() as Promise<RolloutResult>));
      for (const [i, result] of results.entries()) {
        expect(['promoted', 'rolled_back']).toContain(result.state);
        // What the rollout ended on is what applications are served.
        const live = (await call('GET', `/v1/targets/${targets[i]}/config?segment=default`))
          .body as RoutingConfig;
        expect(live.weights).toEqual(result.state === 'promoted' ? { small: 10000 } : { big: 10000 });
      }
    } finally {
      done = true;
      await Promise.all(traffic);
    }
    expect(failures.map((f) => f.message)).toEqual([]);

    // Every request served is counted once, per target, segment and arm.
    await eventually(
      async () => {
        for (const target of targets)
          for (const segment of SEGMENTS) {
            const r = await call('GET', `/v1/targets/${target}/metrics?segment=${segment}&step=1h`);
            const counted: Record<string, number> = {};
            for (const s of r.body.series as { arm: string; points: { count: number }[] }[])
              counted[s.arm] = s.points.reduce((n, p) => n + p.count, 0);
            for (const arm of ['big', 'small'])
              if ((counted[arm] ?? 0) !== (served.get(key(target, segment, arm)) ?? 0)) return false;
          }
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 1_000, what: 'aggregates equal to the traffic sent' },
    );

    const failed: string[] = [];
    for await (const w of client.workflow.list())
      if (!['COMPLETED', 'RUNNING', 'CONTINUED_AS_NEW'].includes(w.status.name))
        failed.push(`${w.workflowId} ${w.status.name}`);
    expect(failed).toEqual([]);

    const metrics = await (await fetch(`${api}/metrics`)).text();
    const serverErrors = metrics
      .split('\n')
      .filter(
        (l) => l.startsWith('llmopt_http_requests_total{') && /status="5\d\d"/.test(l) && !/ 0$/.test(l),
      );
    expect(serverErrors).toEqual([]);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
  }, 300_000);

  it('prints one line per notable event and keeps the JSON logs in files', async () => {
    await eventually(
      async () =>
        supervisor.output().includes(`rollout started: ${targets[0]}/default`) &&
        /rollout (promoted|rolled back): /.test(supervisor.output()) &&
        supervisor.output().includes('decision created: '),
      { timeoutMs: 10_000, what: 'the decision and rollout lines' },
    );
    expect(lines().filter((l) => l.trimStart().startsWith('{'))).toEqual([]);
    for (const name of [...PROCESSES, 'supervisor', 'postgres-embedded', 'temporal-embedded'])
      expect(existsSync(join(root, 'logs', `${name}.log`)), name).toBe(true);
    const apiLog = readFileSync(join(root, 'logs', 'api.log'), 'utf8')
      .split('\n')
      .filter(Boolean);
    expect(apiLog.length).toBeGreaterThan(0);
    for (const line of apiLog) expect(() => JSON.parse(line)).not.toThrow();
  });

  it('restarts a process that dies, and says so', async () => {
    const apiPid = npmStartProcesses(started).find((pid) =>
      readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(join('dist', 'api', 'main.mjs')),
    );
    expect(apiPid).toBeDefined();
    const readyBefore = lines().filter((l) => / api ready \(/.test(l)).length;
    process.kill(apiPid!, 'SIGKILL');
    await eventually(
      async () =>
        supervisor.output().includes('api restarted after signal SIGKILL') &&
        lines().filter((l) => / api ready \(/.test(l)).length > readyBefore,
      { timeoutMs: 60_000, what: 'the api restarted and ready' },
    );
    expect((await call('GET', `/v1/targets/${targets[0]}`)).status).toBe(200);
  }, 90_000);

  it('stops everything it started on Ctrl-C', async () => {
    supervisor.child.kill('SIGINT');
    const exit = await supervisor.exited;
    expect(exit.code).toBe(0);
    expect(lines().some((l) => /\d\d:\d\d:\d\d {2}stopped$/.test(l))).toBe(true);
    expect(existsSync(join(root, 'data', 'postgres-embedded', 'postmaster.pid'))).toBe(false);
    expect(npmStartProcesses(started)).toEqual([]);
  }, 60_000);
});
