/**
 * `npm start`: the whole system on one machine. Where TEMPORAL_ADDRESS or DATABASE_URL is unset it starts
 * the embedded default (the project's own Temporal dev server with its Web UI; PGlite on a PostgreSQL
 * socket), then runs the five processes, restarts any that dies, prints the addresses, and on Ctrl-C
 * stops everything it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { SEARCH_ATTRIBUTES } from '../domain/names';
import { explicitlySet, loadEnv } from './env';
import { createLogger } from './logger';
import { launchEnv, nodeFlags } from './launch';
import { migrate } from './db/migrate';
import { createPool } from './db/pool';
import { ensureBootstrapAdminKey } from './db/repos/api-keys';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './db/embedded';
import { PROJECT_ROOT } from './temporal';

const env = loadEnv();
const logger = createLogger('supervisor', env.LOG_LEVEL);
const dataDir = resolve(PROJECT_ROOT, env.DATA_DIR);
mkdirSync(join(dataDir, '..', 'logs'), { recursive: true });

const EMBEDDED_PG_PORT = 55432;

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.setTimeout(500, () => (s.destroy(), resolve(false)));
  });
}

async function waitFor(what: string, ok: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not become ready within ${timeoutMs} ms`);
}

const started: { stop(): Promise<void> }[] = [];
const children = new Map<string, ChildProcess>();
let stopping = false;

async function startTemporal(): Promise<string> {
  const [host, portText] = env.TEMPORAL_ADDRESS.split(':') as [string, string];
  const port = Number(portText);
  if (await portOpen(host, port)) {
    throw new Error(
      `port ${port} is taken, so the embedded Temporal dev server cannot start. Set TEMPORAL_ADDRESS=${host}:${port} to use that server, or stop it (bash infra/services.sh down temporal).`,
    );
  }
  const cli = env.TEMPORAL_CLI_PATH ?? join(PROJECT_ROOT, '.local', 'venv', 'bin', 'temporal');
  if (!existsSync(cli))
    throw new Error(`Temporal CLI not found at ${cli}; run: bash infra/services.sh install temporal`);
  mkdirSync(dataDir, { recursive: true });
  const log = openSync(join(dataDir, '..', 'logs', 'temporal-embedded.log'), 'a');
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
  const child = spawn(cli, args, { stdio: ['ignore', log, log], detached: false });
  started.push({
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
  });
  await waitFor('Temporal dev server', () => portOpen(host, port), 30_000);
  await waitFor('Temporal Web UI', () => portOpen(host, env.TEMPORAL_UI_PORT), 30_000);
  return env.TEMPORAL_ADDRESS;
}

async function startPostgres(): Promise<string> {
  if (await portOpen('127.0.0.1', EMBEDDED_PG_PORT)) {
    throw new Error(
      `port ${EMBEDDED_PG_PORT} is taken, so embedded PGlite cannot start; set DATABASE_URL to use a server`,
    );
  }
  const pg: EmbeddedPostgres = await startEmbeddedPostgres({
    dataDir: join(dataDir, 'pglite'),
    port: EMBEDDED_PG_PORT,
  });
  started.push(pg);
  return pg.url;
}

const PROCESSES: { name: string; file: string; healthPort?: number }[] = [
  { name: 'api', file: 'api/main.ts' },
  { name: 'orchestration-worker', file: 'workers/orchestration.ts', healthPort: 9102 },
  { name: 'analysis-worker', file: 'workers/analysis.ts', healthPort: 9103 },
  { name: 'integrations-worker', file: 'workers/integrations.ts', healthPort: 9104 },
  { name: 'stream', file: 'workers/stream.ts', healthPort: 9101 },
];

function spawnChild(spec: (typeof PROCESSES)[number], childEnv: NodeJS.ProcessEnv, restarts = 0): void {
  if (stopping) return;
  // The bundled build when infra/start.sh made one (fast start); the TypeScript sources otherwise.
  const bundled = join(PROJECT_ROOT, 'dist', spec.file.replace(/\.ts$/, '.mjs'));
  const args = existsSync(bundled)
    ? [...nodeFlags(spec.file), '--enable-source-maps', bundled]
    : [...nodeFlags(spec.file), '--import', 'tsx', join(PROJECT_ROOT, spec.file)];
  const child = spawn(process.execPath, args, {
    cwd: PROJECT_ROOT,
    env: {
      ...launchEnv(spec.file),
      ...childEnv,
      ...(spec.healthPort ? { HEALTH_PORT: String(spec.healthPort) } : {}),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.set(spec.name, child);
  child.once('exit', (code, signal) => {
    children.delete(spec.name);
    if (stopping) return;
    const delay = Math.min(30_000, 500 * 2 ** restarts);
    logger.error({ process: spec.name, code, signal, restartInMs: delay }, 'process exited; restarting');
    setTimeout(() => spawnChild(spec, childEnv, restarts + 1), delay).unref();
  });
}

async function shutdown(signal: string, exitCode = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping everything npm start started');
  await Promise.all(
    [...children.values()].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
          setTimeout(() => c.kill('SIGKILL'), env.SHUTDOWN_GRACE_MS + 2000).unref();
        }),
    ),
  );
  for (const s of started.reverse())
    await s.stop().catch((err: unknown) => logger.error({ err }, 'stop failed'));
  logger.info('stopped');
  process.exit(exitCode);
}

process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

try {
  const temporalAddress = explicitlySet('TEMPORAL_ADDRESS') ? env.TEMPORAL_ADDRESS : await startTemporal();
  const databaseUrl = explicitlySet('DATABASE_URL') ? env.DATABASE_URL : await startPostgres();
  await migrate(databaseUrl, logger);
  // Every API route needs a credential: the first start writes an admin API key for the user.
  const keyFile = join(dataDir, 'admin-api-key');
  const bootstrapDb = createPool(databaseUrl, 1);
  const bootstrap = await ensureBootstrapAdminKey(bootstrapDb, keyFile).finally(() => bootstrapDb.end());
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: temporalAddress,
    DATABASE_URL: databaseUrl,
  };
  for (const spec of PROCESSES) spawnChild(spec, childEnv);
  const api = `http://${env.HOST === '0.0.0.0' ? '127.0.0.1' : env.HOST}:${env.PORT}`;
  const ui =
    env.TEMPORAL_UI_URL ??
    (explicitlySet('TEMPORAL_ADDRESS')
      ? '(external Temporal: see its Web UI)'
      : `http://127.0.0.1:${env.TEMPORAL_UI_PORT}`);
  await waitFor('API', async () => (await fetch(`${api}/readyz`).catch(() => null))?.ok === true, 60_000);
  process.stdout.write(
    [
      '',
      'llm-auto-optimizer is running',
      `  API              ${api}`,
      `  API docs         ${api}/docs   (OpenAPI: ${api}/openapi.json)`,
      `  Temporal Web UI  ${ui}`,
      `  Temporal         ${temporalAddress}`,
      `  PostgreSQL       ${databaseUrl}${explicitlySet('DATABASE_URL') ? '' : '   (embedded PGlite)'}`,
      `  Cache            ${env.REDIS_URL ?? 'in-process (REDIS_URL unset)'}`,
      `  Ingestion        ${env.KAFKA_BROKERS ? `Kafka ${env.KAFKA_BROKERS}` : 'HTTP direct (KAFKA_BROKERS unset)'}`,
      `  Admin API key    ${keyFile}${bootstrap.created ? '   (new; mode 600)' : ''}`,
      `                   curl -H "Authorization: Bearer $(cat ${keyFile})" ${api}/v1/targets`,
      'Ctrl-C stops everything this started.',
      '',
    ].join('\n'),
  );
} catch (err) {
  logger.fatal({ err: err instanceof Error ? err.message : String(err) }, 'npm start failed');
  await shutdown('startup-failure', 1);
}
