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

/** The OTEL_TRACES_SAMPLER values the SDK is built with (platform/tracing.ts). */
export const TRACES_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

export const EnvSchema = z.object({
  /** development | test | production; production turns off pretty defaults and demands real services. */
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  /** pino level: fatal, error, warn, info, debug, trace. Reloadable with SIGHUP. */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * What `npm start` prints. console: its addresses, then one line per notable event (process ready or
   * restarted, decision made, rollout state changed), each process's JSON logs in `<DATA_DIR>/../logs/
   * <process>.log` rotated by size. json: every process's JSON logs on the terminal.
   */
  LOG_FORMAT: z.enum(['console', 'json']).default('console'),
  /** REST API port (the API process). */
  PORT: port.default(8080),
  /** Interface the API binds; 0.0.0.0 behind a load balancer. */
  HOST: z.string().min(1).default('127.0.0.1'),
  /** Port of the /healthz, /readyz and /metrics server of a worker or stream process (0 = any free port). */
  HEALTH_PORT: port.default(0),
  /** `npm start` gives the stream process and the three workers the health ports from this one up (4 in a row). */
  HEALTH_PORT_BASE: port.max(65532).default(9101),
  /** Temporal frontend host:port. Unset under `npm start`: the embedded dev server is started. */
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^:\s]+:\d+$/, 'host:port')
    .default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  /** Port of the Temporal Web UI when the embedded dev server is started. */
  TEMPORAL_UI_PORT: port.default(8233),
  /** Port of the embedded Temporal dev server that `npm start` runs when TEMPORAL_ADDRESS is unset. */
  EMBEDDED_TEMPORAL_PORT: port.default(7233),
  /** The Temporal CLI binary; defaults to the project's own (.local/venv/bin/temporal). */
  TEMPORAL_CLI_PATH: z.string().optional(),
  /** PostgreSQL URL. Unset under `npm start`: its embedded PostgreSQL 15 (EMBEDDED_POSTGRES_PORT). */
  DATABASE_URL: url(['postgres', 'postgresql']).default('postgres://postgres@127.0.0.1:55432/postgres'),
  /** Port of the embedded PostgreSQL that `npm start` runs on 127.0.0.1 when DATABASE_URL is unset. */
  EMBEDDED_POSTGRES_PORT: port.default(55432),
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
  /** Embedded ingest: the WAL directory and checkpoint name of this process (one per process sharing a database). */
  INGEST_SHARD_NAME: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and dashes')
    .default('api'),
  /** Width of the stored base event-time windows (tumbling); coarser steps merge them exactly. */
  INGEST_WINDOW_MS: positiveInt.min(1000).max(3_600_000).default(10_000),
  /** The watermark trails the newest event time by this much (bounded out-of-orderness). */
  INGEST_MAX_OUT_OF_ORDERNESS_MS: z.coerce.number().int().min(0).max(3_600_000).default(5_000),
  /** Late events still update a window until the watermark passes its end by this much; later ones are dead-lettered. */
  INGEST_ALLOWED_LATENESS_MS: z.coerce.number().int().min(0).max(86_400_000).default(600_000),
  /** Events stamped further than this ahead of the receiver's clock are rejected (clock skew bound). */
  INGEST_MAX_FUTURE_SKEW_MS: z.coerce.number().int().min(0).max(86_400_000).default(300_000),
  /** A repeated event id within this long (processing time) counts once. */
  INGEST_DEDUP_HORIZON_MS: positiveInt.max(30 * 86_400_000).default(86_400_000),
  /** How long (event time) a request stays joinable by request_id for its feedback and evals. */
  INGEST_JOIN_HORIZON_MS: positiveInt.max(86_400_000).default(600_000),
  /** Requests remembered for the feedback join at most (memory bound per shard). */
  INGEST_JOIN_MAX_ENTRIES: positiveInt.max(50_000_000).default(2_000_000),
  /** Events per POST /v1/events or /v1/traces batch (413 beyond). */
  INGEST_MAX_BATCH_EVENTS: positiveInt.max(1_000_000).default(10_000),
  /** Largest decompressed ingest body in bytes (a gzip bomb is refused with 413). */
  INGEST_MAX_DECOMPRESSED_BYTES: positiveInt.max(1024 * 1024 * 1024).default(64 * 1024 * 1024),
  /** How often the pipeline commits window aggregates with its offsets. */
  INGEST_FLUSH_INTERVAL_MS: positiveInt.max(60_000).default(1_000),
  /** Accepted but not yet aggregated events beyond which ingest answers 503 (backpressure). */
  INGEST_MAX_BUFFERED_EVENTS: positiveInt.max(100_000_000).default(1_000_000),
  /** Write-ahead log segment size in bytes (embedded mode). */
  INGEST_WAL_SEGMENT_BYTES: positiveInt
    .min(1024)
    .max(1024 * 1024 * 1024)
    .default(64 * 1024 * 1024),
  /**
   * Embedded mode: fold and commit the shard in a worker thread, so the API thread only validates and
   * appends to the write-ahead log (pipeline/threaded.ts); false keeps it on the API thread.
   */
  INGEST_SHARD_THREAD: bool.default(false),
  /** Token-bucket rate limit per source (API key or client address), events per second; 429 beyond. */
  INGEST_RATE_LIMIT_EPS: positiveInt.max(100_000_000).default(1_000_000),
  /** Token-bucket burst per source, in events. */
  INGEST_RATE_LIMIT_BURST: positiveInt.max(100_000_000).default(2_000_000),
  /** Stored window aggregates older than this many days are deleted. */
  AGGREGATES_RETENTION_DAYS: positiveInt.max(3650).default(30),
  /** Task-queue names; override only to isolate test runs sharing one Temporal namespace. */
  TASK_QUEUE_ORCHESTRATION: z.string().min(1).default('optimizer-orchestration'),
  TASK_QUEUE_ANALYSIS: z.string().min(1).default('optimizer-analysis'),
  TASK_QUEUE_INTEGRATIONS: z.string().min(1).default('optimizer-integrations'),
  /** How far back an optimization cycle reads window aggregates, in minutes. */
  ANALYSIS_LOOKBACK_MINUTES: positiveInt.max(30 * 24 * 60).default(60),
  /** Concurrency of each worker: activity and workflow task slots. */
  WORKER_MAX_CONCURRENT_ACTIVITIES: positiveInt.max(1000).default(20),
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: positiveInt.max(1000).default(20),
  /** Time a process has to finish or hand back in-flight work after SIGTERM before it exits anyway. */
  SHUTDOWN_GRACE_MS: positiveInt.max(60_000).default(8_000),
  /**
   * API processes (node:cluster workers) sharing the REST and gRPC ports, each a full API with its own
   * ingest shard `${INGEST_SHARD_NAME}-<index>`; one per core to use them all. 1 = a single process;
   * more than 1 needs REDIS_URL (the workers share revocations, invalidations and limits through it).
   */
  API_WORKERS: positiveInt.max(64).default(1),
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
  // --- Tracing (platform/tracing.ts): the OpenTelemetry variables; off unless an endpoint or exporter is set.
  /** OTLP/HTTP collector base URL (`/v1/traces` is appended), e.g. http://127.0.0.1:4318. */
  OTEL_EXPORTER_OTLP_ENDPOINT: url(['http', 'https']).optional(),
  /** The traces URL itself, used as given; wins over OTEL_EXPORTER_OTLP_ENDPOINT. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: url(['http', 'https']).optional(),
  /** OTLP over HTTP, protobuf or JSON bodies (no gRPC exporter is installed: use a collector's HTTP port). */
  OTEL_EXPORTER_OTLP_PROTOCOL: z.enum(['http/protobuf', 'http/json']).default('http/protobuf'),
  /** otlp (implied by an endpoint), console (spans on stdout) or none (off whatever else is set). */
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'console', 'none']).optional(),
  /** service.name of the spans; unset, the process's name (api, orchestration-worker, analysis-worker, …). */
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
  /** Which traces are recorded; parentbased_* follow the caller's sampled flag. */
  OTEL_TRACES_SAMPLER: z.enum(TRACES_SAMPLERS).default('parentbased_always_on'),
  /** The ratio of the traceidratio samplers, 0 to 1. */
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).default(1),
  /** Optional KEY=VALUE file layered over the environment, re-read on SIGHUP for reloadable keys. */
  CONFIG_FILE: z.string().optional(),
  // --- Integrations and webhooks. Values set through the API (/v1/integrations) override these.
  /** Let webhooks and integrations reach private, loopback and link-local addresses (never in production). */
  WEBHOOK_ALLOW_PRIVATE_DESTINATIONS: bool.default(false),
  /** Comma-separated CIDRs or host names allowed although private (e.g. 127.0.0.0/8 for tests, an internal relay). */
  WEBHOOK_ALLOWED_DESTINATIONS: z.string().optional(),
  /** Attempts per webhook delivery (first one included) before it is dead-lettered. */
  WEBHOOK_MAX_ATTEMPTS: positiveInt.max(100).default(10),
  /** First retry delay; doubles per attempt with jitter, up to WEBHOOK_RETRY_MAX_MS. */
  WEBHOOK_RETRY_INITIAL_MS: positiveInt.max(3_600_000).default(1_000),
  /** Longest computed retry delay. */
  WEBHOOK_RETRY_MAX_MS: positiveInt.max(86_400_000).default(600_000),
  /** Longest wait a subscriber can ask for with Retry-After (429/503); longer asks wait this long. */
  WEBHOOK_RETRY_AFTER_MAX_MS: positiveInt.max(86_400_000).default(3_600_000),
  /** Time a subscriber has to answer one delivery attempt. */
  WEBHOOK_TIMEOUT_MS: positiveInt.max(120_000).default(10_000),
  /** Redirects followed per attempt (each target checked again against the destination rules). */
  WEBHOOK_MAX_REDIRECTS: z.coerce.number().int().min(0).max(10).default(3),
  /** Bytes of a subscriber's response kept in the attempt log. */
  WEBHOOK_RESPONSE_LOG_BYTES: z.coerce.number().int().min(0).max(65_536).default(1_024),
  /** Default time both the old and the new secret sign after a rotation, in seconds. */
  WEBHOOK_ROTATION_OVERLAP_S: z.coerce
    .number()
    .int()
    .min(0)
    .max(30 * 86_400)
    .default(86_400),
  /** Calls per second each integration (Slack, GitHub, Jira, Anthropic) may make from one worker. */
  INTEGRATION_RATE_LIMIT_PER_SECOND: positiveInt.max(10_000).default(5),
  /** Circuit breaker: failure percentage over the rolling window that opens it, and time until a trial call. */
  INTEGRATION_BREAKER_ERROR_PERCENT: z.coerce.number().int().min(1).max(100).default(50),
  INTEGRATION_BREAKER_RESET_MS: positiveInt.max(3_600_000).default(30_000),
  /** Slack Web API base URL (a local server in tests). */
  SLACK_API_BASE_URL: url(['https', 'http']).default('https://slack.com/api'),
  /** Slack bot token (xoxb-...) for chat.postMessage; or SLACK_WEBHOOK_URL for an incoming webhook. */
  SLACK_BOT_TOKEN: z.string().min(1).optional(),
  /** Channel id or name the bot posts to. */
  SLACK_CHANNEL: z.string().min(1).optional(),
  /** Slack incoming-webhook URL, used when no bot token is set. */
  SLACK_WEBHOOK_URL: url(['https', 'http']).optional(),
  /** Signing secret of the Slack app: slash commands are verified with it (v0 signature). */
  SLACK_SIGNING_SECRET: z.string().min(1).optional(),
  /** Slack user id to role mapping for slash commands: "U123:operator,U456:viewer". */
  SLACK_USER_ROLES: z.string().optional(),
  /** GitHub REST API base URL (GitHub Enterprise or a local server in tests). */
  GITHUB_API_BASE_URL: url(['https', 'http']).default('https://api.github.com'),
  /** Token (fine-grained PAT or app installation token) with issues:write on GITHUB_REPOSITORY. */
  GITHUB_TOKEN: z.string().min(1).optional(),
  /** owner/name of the repository where rollback and anomaly issues are opened. */
  GITHUB_REPOSITORY: z
    .string()
    .regex(/^[\w.-]+\/[\w.-]+$/, 'owner/name')
    .optional(),
  /** Comma-separated labels put on the issues we open. */
  GITHUB_ISSUE_LABELS: z.string().default('llm-optimizer'),
  /** Secret of inbound GitHub webhooks (X-Hub-Signature-256). */
  GITHUB_WEBHOOK_SECRET: z.string().min(1).optional(),
  /** Jira Cloud site (https://your-site.atlassian.net) and API-token basic auth. */
  JIRA_BASE_URL: url(['https', 'http']).optional(),
  JIRA_EMAIL: z.string().min(1).optional(),
  JIRA_API_TOKEN: z.string().min(1).optional(),
  /** Jira project key of rollback issues, their issue type, and the transition that resolves them. */
  JIRA_PROJECT_KEY: z.string().min(1).optional(),
  JIRA_ISSUE_TYPE: z.string().min(1).default('Bug'),
  JIRA_DONE_TRANSITION: z.string().min(1).default('Done'),
  /** Anthropic API key, base URL (a local server in tests) and the model used as judge and prompt writer. */
  ANTHROPIC_API_KEY: z.string().min(1).optional(),
  ANTHROPIC_BASE_URL: url(['https', 'http']).optional(),
  ANTHROPIC_MODEL: z.string().min(1).default('claude-sonnet-4-5'),
  /** USD per million input and output tokens of ANTHROPIC_MODEL, for cost accounting. */
  ANTHROPIC_PRICE_INPUT_PER_MTOK: z.coerce.number().min(0).max(10_000).default(3),
  ANTHROPIC_PRICE_OUTPUT_PER_MTOK: z.coerce.number().min(0).max(10_000).default(15),
  /** SDK-level retries of one Anthropic call (429, 5xx, overloaded) before the activity retry takes over. */
  ANTHROPIC_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(2),
  ANTHROPIC_TIMEOUT_MS: positiveInt.max(600_000).default(60_000),
  /** Where the LLM judge posts its eval.result events: the API's ingest endpoint (…/v1/events) and an ingest-role key. */
  EVAL_EVENTS_URL: url(['https', 'http']).optional(),
  EVAL_EVENTS_API_KEY: z.string().min(1).optional(),
  /** LLM judge: share of requests sampled for judging when a target has no rate of its own (anthropic settings `judge_sample_rates`). */
  JUDGE_DEFAULT_SAMPLE_RATE: z.coerce.number().min(0).max(1).default(0.05),
  /** How often the `judge-sampled-requests` Temporal Schedule scores pending samples, in seconds. */
  JUDGE_INTERVAL_S: positiveInt.min(10).max(86_400).default(300),
  /** Samples one judge run scores at most. */
  JUDGE_BATCH_SIZE: positiveInt.max(1_000).default(50),
  /** Submitted and judged samples (their prompt and answer text) are deleted after this many hours. */
  JUDGE_SAMPLE_RETENTION_HOURS: positiveInt.max(24 * 365).default(168),
  /** The integrations worker creates the judge schedule at start (off where another deployment owns it). */
  JUDGE_SCHEDULE_ENABLED: bool.default(true),
  /** Outbox sweeper: how often it looks for events whose notify run never started, how old they must be, and the oldest it still notifies. */
  OUTBOX_SWEEP_INTERVAL_MS: positiveInt.min(100).max(3_600_000).default(30_000),
  OUTBOX_SWEEP_GRACE_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
  OUTBOX_SWEEP_MAX_AGE_MS: positiveInt.max(30 * 86_400_000).default(86_400_000),
  /**
   * Key that encrypts integration and webhook secrets at rest (AES-256-GCM): 32 random bytes in base64
   * (`openssl rand -base64 32`). Unset outside production: generated once into DATA_DIR/secrets-key.
   */
  SECRETS_KEY: z
    .string()
    .refine((v) => /^[A-Za-z0-9+/]+={0,2}$/.test(v) && Buffer.from(v, 'base64').length === 32, {
      message: 'must be 32 random bytes in base64 (openssl rand -base64 32)',
    })
    .optional(),
  /** Id stored with each ciphertext, so a rotated key can still decrypt what the previous one wrote. */
  SECRETS_KEY_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, 'letters, digits, _ or -, at most 32')
    .default('k1'),
  /** Retired keys still accepted for decryption after a rotation: "id:base64,id:base64". */
  SECRETS_PREVIOUS_KEYS: z
    .string()
    .refine(
      (v) =>
        v.split(',').every((pair) => {
          const [id, key] = pair.trim().split(':');
          return (
            !!id && /^[A-Za-z0-9_-]{1,32}$/.test(id) && !!key && Buffer.from(key, 'base64').length === 32
          );
        }),
      { message: 'comma-separated id:base64 pairs, each key 32 bytes' },
    )
    .optional(),
  /** HS256 shared secret for JWT bearer tokens (at least 32 characters); unset = no HS256 tokens. */
  AUTH_JWT_HS256_SECRET: z.string().min(32).optional(),
  /** JWKS URL for RS256/ES256 JWT bearer tokens; keys are fetched and cached by kid. */
  AUTH_JWKS_URL: url(['https', 'http']).optional(),
  /** Comma-separated JWT algorithms accepted (HS256, RS256, ES256); default: those the keys above allow. */
  AUTH_JWT_ALGORITHMS: z
    .string()
    .regex(/^(HS256|RS256|ES256)(,(HS256|RS256|ES256))*$/, 'comma-separated HS256, RS256, ES256')
    .optional(),
  /** Required `iss` of JWTs; required whenever JWTs are configured. */
  AUTH_JWT_ISSUER: z.string().min(1).optional(),
  /** Required `aud` of JWTs; required whenever JWTs are configured. */
  AUTH_JWT_AUDIENCE: z.string().min(1).optional(),
  /** JWT claim holding the caller's roles (array or space-separated string). */
  AUTH_JWT_ROLES_CLAIM: z.string().min(1).default('roles'),
  /** Clock skew tolerated on exp/nbf, in seconds. */
  AUTH_JWT_CLOCK_TOLERANCE_S: z.coerce.number().int().min(0).max(300).default(30),
  /** How long an API process trusts a looked-up API key before re-reading it (bounds revocation lag). */
  AUTH_API_KEY_CACHE_MS: z.coerce.number().int().min(0).max(300_000).default(5_000),
  /** Requests per minute per identity (API key, token subject); 0 turns rate limiting off. */
  API_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).max(100_000_000).default(6_000),
  /** Requests per minute per client address for calls without a valid identity. */
  API_RATE_LIMIT_ANONYMOUS_PER_MINUTE: z.coerce.number().int().min(0).max(100_000_000).default(600),
  /** Comma-separated origins allowed by CORS (e.g. https://app.example.com); unset = no CORS. */
  API_CORS_ORIGINS: z.string().optional(),
  /**
   * Proxies in front of the API that append to X-Forwarded-For: the client address is the entry the
   * outermost of them added (that many from the right). 0/false: the socket's peer; true = 1.
   */
  API_TRUST_PROXY: z
    .string()
    .regex(/^(true|false|yes|no|\d{1,2})$/, 'a number of proxies (0-99), or true (1) / false (0)')
    .transform((v) => (v === 'true' || v === 'yes' ? 1 : v === 'false' || v === 'no' ? 0 : Number(v)))
    .default(0),
  /** How long an Idempotency-Key's first result is kept and replayed, in seconds. */
  API_IDEMPOTENCY_TTL_S: z.coerce
    .number()
    .int()
    .min(60)
    .max(30 * 24 * 3600)
    .default(24 * 3600),
  /** gRPC port of the API process (0 = any free port). */
  GRPC_PORT: port.default(9090),
  /**
   * Streams (watches, ingest streams, health watches) open at once on one gRPC connection; the next is
   * refused with RESOURCE_EXHAUSTED. HTTP/2 itself allows twice as many calls, so unary calls still fit.
   */
  GRPC_MAX_STREAMS_PER_CONNECTION: positiveInt.max(10_000).default(100),
  /** Streams one identity (API key, token subject) holds open at once in this process. */
  GRPC_MAX_STREAMS_PER_IDENTITY: positiveInt.max(100_000).default(200),
  /** Messages one IngestStream call may send; RESOURCE_EXHAUSTED beyond (the client opens a new stream). */
  GRPC_INGEST_STREAM_MAX_MESSAGES: positiveInt.max(100_000_000).default(100_000),
  /** Bytes (encoded messages) one IngestStream call may send; RESOURCE_EXHAUSTED beyond. */
  GRPC_INGEST_STREAM_MAX_BYTES: positiveInt.max(1024 * 1024 * 1024 * 1024).default(1024 * 1024 * 1024),
  /** grpc.health.v1 Watch streams (unauthenticated) open at once in this process. */
  GRPC_HEALTH_MAX_WATCHERS: positiveInt.max(100_000).default(1_000),
});

export type Env = z.infer<typeof EnvSchema>;

/**
 * Rules between variables. Several API workers share API-key revocations, cache invalidations and rate
 * limits only through Redis; without it each worker would keep its own and they would silently diverge
 * (a key revoked on one worker still served by the others), so that combination does not start.
 */
const CheckedEnvSchema = EnvSchema.superRefine((env, ctx) => {
  if (env.API_WORKERS > 1 && env.REDIS_URL === undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['API_WORKERS'],
      message:
        'more than one API worker needs REDIS_URL: revocations, cache invalidations and rate limits are shared between workers through Redis',
    });
});

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parse an environment; throws ConfigError listing every bad variable with its expected form. */
export function parseEnv(source: Record<string, string | undefined>): Env {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const result = CheckedEnvSchema.safeParse(cleaned);
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
    throw new ConfigError(
      `CONFIG_FILE: cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`,
    );
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
