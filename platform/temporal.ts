/**
 * Temporal plumbing shared by the processes: the client connection, the worker runtime (Core logs routed
 * into pino, Core metrics exported for /metrics), and the prebuilt workflow bundle.
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
  renameSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type * as TemporalWorker from '@temporalio/worker';
import type { LogLevel, NativeConnection } from '@temporalio/worker';
import type { Logger } from './logger';
import { PROJECT_ROOT } from './paths';
import { temporalClientInterceptors, workflowTracingModules } from './tracing';

export { PROJECT_ROOT };

const requireCjs = createRequire(import.meta.url);
/**
 * @temporalio/worker (Core's native module, the webpack bundler) loads on first use: the API imports this
 * file for the client only. It is CommonJS, so this is the same module instance an `import` gets.
 */
const temporalWorker = (): typeof TemporalWorker => requireCjs('@temporalio/worker') as typeof TemporalWorker;

export async function connectClient(address: string, namespace: string): Promise<Client> {
  const connection = await Connection.connect({ address, connectTimeout: '5 seconds' });
  const interceptors = temporalClientInterceptors();
  return new Client({ connection, namespace, ...(interceptors ? { interceptors } : {}) });
}

const PINO_LEVEL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

let runtimeInstalled = false;

/**
 * Installs the Temporal Core runtime once per process. Signals are ours (graceful shutdown lives in
 * platform/process.ts), Core's logs go to pino, and Core's metrics are served on `metricsAddress`.
 */
export function installRuntime(logger: Logger, metricsAddress?: string): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const { DefaultLogger, Runtime } = temporalWorker();
  Runtime.install({
    shutdownSignals: [],
    logger: new DefaultLogger('INFO', (entry) => {
      const { level, message, meta } = entry;
      logger[PINO_LEVEL[level]]({ temporal: meta ?? {} }, message);
    }),
    telemetryOptions: {
      logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} },
      ...(metricsAddress ? { metrics: { prometheus: { bindAddress: metricsAddress } } } : {}),
    },
  });
}

export async function connectWorker(address: string): Promise<NativeConnection> {
  return temporalWorker().NativeConnection.connect({ address });
}

/**
 * Bumped when the bundle's build options change, so a cached bundle built with the old ones is not reused.
 */
const BUNDLE_FORMAT = 'nosources-1';

function sourceHash(dirs: string[]): string {
  const hash = createHash('sha256').update(BUNDLE_FORMAT);
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts')) hash.update(p).update(readFileSync(p));
    }
  };
  for (const d of dirs) if (existsSync(d)) walk(d);
  return hash.digest('hex').slice(0, 16);
}

/**
 * The workflow bundle, built once per source version and cached under .local/build, so a worker starts
 * in well under a second instead of running webpack on every start (as in the SDK's production sample).
 */
export async function workflowBundlePath(logger?: Logger, entry = 'index.ts'): Promise<string> {
  const workflowsDir = join(PROJECT_ROOT, 'workflows');
  const hash = sourceHash([workflowsDir, join(PROJECT_ROOT, 'domain')]);
  const dir = join(PROJECT_ROOT, '.local', 'build');
  // With tracing on, the OpenTelemetry workflow interceptors are bundled too: a bundle of its own.
  const interceptorModules = workflowTracingModules();
  const variant = interceptorModules.length > 0 ? '-traced' : '';
  // A worker that hosts only some workflows (an entry other than index.ts) bundles only those, so code it
  // never runs cannot break it (the integrations worker keeps notifying whatever state rollouts are in).
  const file = join(
    dir,
    entry === 'index.ts'
      ? `workflows${variant}-${hash}.js`
      : `workflows-${entry.replace(/\.ts$/, '')}${variant}-${hash}.js`,
  );
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const started = Date.now();
  const { code } = await temporalWorker().bundleWorkflowCode({
    workflowsPath: join(workflowsDir, entry),
    workflowInterceptorModules: interceptorModules,
    // The SDK's inline source map carries every module's full source (zod, the SDK itself): the worker
    // parses it on start and keeps it, ~25 MB of heap and a quarter of a second per start. Without the
    // sources, stack traces still map to file:line:column; only `showStackTraceSources` (off) needs them.
    webpackConfigHook: (config) => ({ ...config, devtool: 'inline-nosources-source-map' }),
    logger: {
      trace() {},
      debug() {},
      info() {},
      warn: (m) => logger?.warn(m),
      error: (m) => logger?.error(m),
      log() {},
    },
  });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, code);
  renameSync(tmp, file);
  logger?.info({ ms: Date.now() - started, file }, 'built workflow bundle');
  return file;
}
