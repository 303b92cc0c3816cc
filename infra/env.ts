/**
 * Every process.env read in the project happens here, parsed once by zod at startup. A bad or missing
 * value stops the process with a message naming the variable and the expected form.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const url = (protocols: string[]) =>
  z
    .string()
    .url()
    .refine((v) => protocols.some((p) => v.startsWith(`${p}://`)), {
      message: `must start with ${protocols.map((p) => `${p}://`).join(' or ')}`,
    });

export const EnvSchema = z.object({
  /** development | test | production; production turns off pretty defaults and demands real services. */
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  /** pino level: fatal, error, warn, info, debug, trace. Reloadable with SIGHUP. */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** REST API port (the API process). */
  PORT: port.default(8080),
  /** Interface the API binds; 0.0.0.0 behind a load balancer. */
  HOST: z.string().min(1).default('127.0.0.1'),
  /** Port of the /healthz, /readyz and /metrics server of a worker or stream process (0 = any free port). */
  HEALTH_PORT: port.default(0),
  /** Temporal frontend host:port. Unset under `npm start`: the embedded dev server is started. */
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^:\s]+:\d+$/, 'host:port')
    .default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  /** Port of the Temporal Web UI when the embedded dev server is started. */
  TEMPORAL_UI_PORT: port.default(8233),
  /** The Temporal CLI binary; defaults to the project's own (.local/venv/bin/temporal). */
  TEMPORAL_CLI_PATH: z.string().optional(),
  /** PostgreSQL URL. Unset under `npm start`: PGlite is served on a PostgreSQL socket. */
  DATABASE_URL: url(['postgres', 'postgresql']).default('postgres://postgres@127.0.0.1:55432/postgres'),
  /** Maximum connections per process in the pg pool. */
  DATABASE_POOL_MAX: positiveInt.max(200).default(10),
  /** Redis URL; unset means an in-process cache (one process only). */
  REDIS_URL: url(['redis', 'rediss']).optional(),
  /** Comma-separated Kafka bootstrap brokers; unset means HTTP ingestion feeds the pipeline directly. */
  KAFKA_BROKERS: z
    .string()
    .regex(/^[^,\s]+:\d+(,[^,\s]+:\d+)*$/, 'host:port[,host:port...]')
    .optional(),
  /** Topic that carries telemetry events. */
  KAFKA_EVENTS_TOPIC: z.string().min(1).default('llmopt.events'),
  /** Dead-letter topic for messages that cannot be processed. */
  KAFKA_DLQ_TOPIC: z.string().min(1).default('llmopt.events.dlq'),
  /** Consumer group of the stream processes. */
  KAFKA_CONSUMER_GROUP: z.string().min(1).default('llmopt-stream'),
  /** Where embedded services and local write-ahead logs keep their files. */
  DATA_DIR: z.string().min(1).default('.local/data'),
  /** Task-queue names; override only to isolate test runs sharing one Temporal namespace. */
  TASK_QUEUE_ORCHESTRATION: z.string().min(1).default('optimizer-orchestration'),
  TASK_QUEUE_ANALYSIS: z.string().min(1).default('optimizer-analysis'),
  TASK_QUEUE_INTEGRATIONS: z.string().min(1).default('optimizer-integrations'),
  /** Concurrency of each worker: activity and workflow task slots. */
  WORKER_MAX_CONCURRENT_ACTIVITIES: positiveInt.max(1000).default(20),
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: positiveInt.max(1000).default(20),
  /** Time a process has to finish or hand back in-flight work after SIGTERM before it exits anyway. */
  SHUTDOWN_GRACE_MS: positiveInt.max(60_000).default(8_000),
  /** Largest request body the API accepts, in bytes (413 beyond). Reloadable with SIGHUP. */
  API_MAX_BODY_BYTES: positiveInt.max(512 * 1024 * 1024).default(10 * 1024 * 1024),
  /** Time after which the API answers 503 for a request still running. Reloadable with SIGHUP. */
  API_REQUEST_TIMEOUT_MS: positiveInt.max(600_000).default(30_000),
  /** Serve /docs and /openapi.json without credentials. */
  API_PUBLIC_DOCS: bool.default(true),
  /** Serve /metrics without credentials. */
  API_PUBLIC_METRICS: bool.default(true),
  /** Base URL printed for the Temporal Web UI; derived from TEMPORAL_UI_PORT when unset. */
  TEMPORAL_UI_URL: z.string().url().optional(),
  /** Whether worker processes expose Temporal Core (Rust) metrics, appended to /metrics. */
  TEMPORAL_CORE_METRICS: bool.default(true),
  /** Optional KEY=VALUE file layered over the environment, re-read on SIGHUP for reloadable keys. */
  CONFIG_FILE: z.string().optional(),
});

export type Env = z.infer<typeof EnvSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parse an environment; throws ConfigError listing every bad variable with its expected form. */
export function parseEnv(source: Record<string, string | undefined>): Env {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const result = EnvSchema.safeParse(cleaned);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const name = issue.path.join('.');
    const got = cleaned[name];
    return `  ${name}: ${issue.message}${got === undefined ? ' (missing)' : ` (got ${JSON.stringify(got)})`}`;
  });
  throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
}

let cached: Env | undefined;

/**
 * The process's configuration. On a bad value it prints the message and exits 78 (EX_CONFIG), since a
 * process with a wrong configuration must not start half-working.
 */
export function loadEnv(): Env {
  if (cached) return cached;
  try {
    cached = parseEnv(withOverlay(process.env));
    return cached;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}

/** Re-read the environment and CONFIG_FILE (SIGHUP); callers apply only the reloadable keys. */
export function reloadEnv(): Env {
  return parseEnv(withOverlay(process.env));
}

function withOverlay(source: Record<string, string | undefined>): Record<string, string | undefined> {
  const file = source.CONFIG_FILE;
  if (!file) return source;
  try {
    return { ...source, ...readEnvFile(readFileSync(file, 'utf8')) };
  } catch (err) {
    throw new ConfigError(`CONFIG_FILE: cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Variables the supervisor must know were set by the user (not defaulted) to pick embedded services. */
export function explicitlySet(name: keyof Env): boolean {
  const v = process.env[name];
  return v !== undefined && v !== '';
}

/** Keys that SIGHUP can change without a restart. */
export const RELOADABLE_KEYS = ['LOG_LEVEL', 'API_MAX_BODY_BYTES', 'API_REQUEST_TIMEOUT_MS'] as const;

/** A file-based env overlay for SIGHUP: the process re-reads it (KEY=VALUE lines) when present. */
export function readEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}
