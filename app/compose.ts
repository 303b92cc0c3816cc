/**
 * The composition root: every process (API, workers, stream, the in-process test system) builds what it
 * shares here, once, from its env. The container it returns is passed whole to `createApp` and to the
 * activity factories; nothing reaches them any other way. A process asks only for what it uses
 * (`temporal`, `cache`, `aggregatesCache`); `close()` ends everything opened, users of a resource
 * before the resource.
 */
import { Connection, type Client } from '@temporalio/client';
import type { Redis } from 'ioredis';
import type { TaskQueues } from '../domain/names';
import type { Env } from '../platform/env';
import { createLogger, type Logger } from '../platform/logger';
import { createMetrics, type Metrics } from '../platform/metrics';
import type { ReadinessCheck } from '../platform/process';
import { secretBoxFromEnv, type SecretBox } from '../platform/secrets';
import { connectClient } from '../platform/temporal';
import { createPool, ping, type Db } from '../adapters/db/pool';
import { migrate } from '../adapters/db/migrate';
import { createAnalysisReportsRepo, type AnalysisReportsRepo } from '../adapters/db/repos/analysis-reports';
import { createApiKeysRepo, type ApiKeysRepo } from '../adapters/db/repos/api-keys';
import { createAuditLogRepo, type AuditLogRepo } from '../adapters/db/repos/audit-log';
import { createDecisionsRepo, type DecisionsRepo } from '../adapters/db/repos/decisions';
import { createDomainEventsRepo, type DomainEventsRepo } from '../adapters/db/repos/domain-events';
import { createIdempotencyRepo, type IdempotencyRepo } from '../adapters/db/repos/idempotency';
import { createIntegrationsRepo, type IntegrationsRepo } from '../adapters/db/repos/integrations';
import { createJudgeRepo, type JudgeRepo } from '../adapters/db/repos/judge';
import { createPricesRepo, type PricesRepo } from '../adapters/db/repos/prices';
import { createProvidersRepo, type ProvidersRepo } from '../adapters/db/repos/providers';
import { createRolloutsRepo, type RolloutsRepo } from '../adapters/db/repos/rollouts';
import { createTargetCatalogRepo, type TargetCatalogRepo } from '../adapters/db/repos/target-catalog';
import { createTargetsRepo, type TargetsRepo } from '../adapters/db/repos/targets';
import { createWebhooksRepo, type WebhooksRepo } from '../adapters/db/repos/webhooks';
import {
  createCachedTargetsRepo,
  createSharedState,
  type InvalidationBus,
  type RoutingConfigCache,
  type SharedState,
} from '../adapters/cache';
import { connectRedis, type RedisPurpose } from '../adapters/redis';
import { createAggregatesReader, type AggregatesReader } from '../pipeline/adapters/aggregates-cache';
import { createAggregatesRepo, type AggregatesRepo } from '../pipeline/adapters/store';
import { createSettingsResolver, type SettingsResolver } from './integration-settings';
import { createCyclesService, type CyclesService } from './cycles';
import { createDecisionsService, type DecisionsService } from './decisions';
import { createRolloutsService, type RolloutsService } from './rollouts';
import { createAdminService, type AdminService } from './admin';
import { createIntegrationsService, type IntegrationsService } from './integrations';
import { createSchedulesService, type SchedulesService } from './schedules';
import { createWebhooksService, type WebhooksService } from './webhooks';
import { createTargetsService, type TargetsService } from './targets';
import { createPricesService, type PricesService } from './prices';
import { createAuditService, type AuditService } from './audit';

/** Every repository of the process, each created once over the process's pool. */
export interface Repos {
  /** Announces each routing-config version it writes to every process when the cache is on. */
  targets: TargetsRepo;
  decisions: DecisionsRepo;
  rollouts: RolloutsRepo;
  apiKeys: ApiKeysRepo;
  audit: AuditLogRepo;
  idempotency: IdempotencyRepo;
  judge: JudgeRepo;
  targetCatalog: TargetCatalogRepo;
  /** Secrets sealed and opened with the container's secret box. */
  integrations: IntegrationsRepo;
  webhooks: WebhooksRepo;
  analysisReports: AnalysisReportsRepo;
  domainEvents: DomainEventsRepo;
  prices: PricesRepo;
  /** Providers the gateway calls; their API keys sealed and opened with the container's secret box. */
  providers: ProvidersRepo;
  /** Stored window aggregates and dead letters (pipeline/adapters/store.ts). */
  aggregates: AggregatesRepo;
}

/** Redis purposes a process opens on demand; the cache's own connection comes with `cache`. */
export type OnDemandRedis = Exclude<RedisPurpose, 'cache' | 'bus-publish' | 'bus-subscribe'>;

export interface ComposeOptions {
  /** Logger and metrics of the process (runProcess makes them); else created under `name`. */
  logger?: Logger;
  metrics?: Metrics;
  name?: string;
  /** Bring the schema up to date before anything reads (process entry points do; tests migrate once). */
  migrate?: boolean;
  /** Pool size; DATABASE_POOL_MAX when unset. */
  poolMax?: number;
  /** Connect a Temporal client (the API, and workers that start workflows from outside an activity). */
  temporal?: boolean;
  /**
   * The invalidation bus, the cache's Redis connection (REDIS_URL) and routing configs through the
   * three-tier cache: every process that writes or serves routing configs.
   */
  cache?: boolean;
  /** Stored windows through the three-tier cache too (the API's metrics queries); implies `cache`. */
  aggregatesCache?: boolean;
  /** Task queues of the workers; the env's when unset (tests give each file its own). */
  taskQueues?: TaskQueues;
}

export interface Container {
  env: Env;
  logger: Logger;
  metrics: Metrics;
  db: Db;
  repos: Repos;
  /** Opens and seals integration and webhook secrets (SECRETS_KEY). */
  secrets: SecretBox;
  /** Integration settings: stored rows over env defaults, secrets opened. */
  settings: SettingsResolver;
  taskQueues: TaskQueues;
  /** Present when composed with `temporal: true`. */
  temporal?: Client;
  /** Present when composed with `temporal: true`. */
  services?: Services;
  /** The invalidation bus (Redis pub/sub, else PostgreSQL LISTEN/NOTIFY); present with `cache`. */
  bus?: InvalidationBus;
  /** The cache's Redis connection (cache reads, rate limits); present with `cache` and REDIS_URL. */
  redis?: Redis;
  /** The three-tier caches; reads go to the repositories when absent. */
  caches: { routingConfigs?: RoutingConfigCache; aggregates?: AggregatesReader };
  /** A Redis connection for `purpose`, opened on first ask and closed by `close()`; none without REDIS_URL. */
  redisFor(purpose: OnDemandRedis): Redis | undefined;
  /** Readiness: PostgreSQL answers, and Temporal when the process has a client. */
  checks: ReadinessCheck[];
  /** Readiness of every Redis connection opened so far; undefined without REDIS_URL. */
  redisCheck(): ReadinessCheck | undefined;
  /** Ends what compose opened: caches, then Redis and the bus, the Temporal client, the pool last. */
  close(): Promise<void>;
}

/** The use cases of app/, built once over the container; every door (REST, gRPC, Slack) calls these. */
export interface Services {
  cycles: CyclesService;
  decisions: DecisionsService;
  rollouts: RolloutsService;
  schedules: SchedulesService;
  webhooks: WebhooksService;
  /** Without an outbound path: the API hands its own in to send test messages. */
  integrations: IntegrationsService;
  admin: AdminService;
  /** The API's doors build their own over the app's repositories and cache (a replica brings its own). */
  targets: TargetsService;
  prices: PricesService;
  audit: AuditService;
}

/** A container composed with `temporal: true`: the client, and the services that start and steer runs. */
export type ContainerWithTemporal = Container & { temporal: Client; services: Services };

/** The use-case services over one Temporal client (a test steering runs on its own server builds them again). */
export function createServices(
  c: Pick<
    Container,
    'repos' | 'taskQueues' | 'env' | 'logger' | 'db' | 'secrets' | 'bus' | 'redis' | 'caches'
  > & {
    temporal: Client;
  },
): Services {
  const { repos, temporal, taskQueues, env, logger } = c;
  const cycles = createCyclesService({ repos, temporal, taskQueues, env, logger });
  return {
    cycles,
    decisions: createDecisionsService({ repos, temporal }),
    rollouts: createRolloutsService({ repos, temporal, taskQueues, env, logger }),
    schedules: createSchedulesService({ repos, temporal, cycles }),
    webhooks: createWebhooksService({ repos, temporal, taskQueues, env, logger }),
    integrations: createIntegrationsService({ db: c.db, repos, secrets: c.secrets, env, logger }),
    admin: createAdminService({ db: c.db, temporal, logger, bus: c.bus, redis: c.redis }),
    targets: createTargetsService({ repos, caches: c.caches }),
    prices: createPricesService({ repos }),
    audit: createAuditService({ repos }),
  };
}

function taskQueuesOf(env: Env): TaskQueues {
  return {
    orchestration: env.TASK_QUEUE_ORCHESTRATION,
    analysis: env.TASK_QUEUE_ANALYSIS,
    integrations: env.TASK_QUEUE_INTEGRATIONS,
  };
}

/** The repositories over `db`, the targets one given (cached or not). */
function createRepos(db: Db, secrets: SecretBox, targets: TargetsRepo = createTargetsRepo(db)): Repos {
  return {
    targets,
    decisions: createDecisionsRepo(db),
    rollouts: createRolloutsRepo(db),
    apiKeys: createApiKeysRepo(db),
    audit: createAuditLogRepo(db),
    idempotency: createIdempotencyRepo(db),
    judge: createJudgeRepo(db),
    targetCatalog: createTargetCatalogRepo(db),
    integrations: createIntegrationsRepo(db, secrets),
    webhooks: createWebhooksRepo(db, secrets),
    analysisReports: createAnalysisReportsRepo(db),
    domainEvents: createDomainEventsRepo(db),
    prices: createPricesRepo(db),
    providers: createProvidersRepo(db, secrets),
    aggregates: createAggregatesRepo(db),
  };
}

export function compose(env: Env, opts: ComposeOptions & { temporal: true }): Promise<ContainerWithTemporal>;
export function compose(env: Env, opts?: ComposeOptions): Promise<Container>;
export async function compose(env: Env, opts: ComposeOptions = {}): Promise<Container> {
  const logger = opts.logger ?? createLogger(opts.name ?? 'process', env.LOG_LEVEL);
  const metrics = opts.metrics ?? createMetrics(opts.name ?? 'process');
  // Closed in reverse order of opening: a cache before the connections it reads through, the pool last.
  const closers: (() => Promise<void> | void)[] = [];
  const close = async () => {
    // One that fails must not leave the rest open (the pool above all).
    for (const end of closers.splice(0).reverse())
      await Promise.resolve()
        .then(end)
        .catch((err: unknown) => logger.warn({ err }, 'closing a resource failed'));
  };
  try {
    if (opts.migrate) await migrate(env.DATABASE_URL, logger);
    const db = createPool(env.DATABASE_URL, opts.poolMax ?? env.DATABASE_POOL_MAX);
    closers.push(() => db.end());
    const checks: ReadinessCheck[] = [{ name: 'postgres', check: () => ping(db) }];

    let temporal: Client | undefined;
    if (opts.temporal) {
      const client = await connectClient(env.TEMPORAL_ADDRESS, env.TEMPORAL_NAMESPACE);
      closers.push(() => client.connection.close());
      // Connecting ran the client's call-context AsyncLocalStorage once, which on Node 20 leaves an async
      // hook on every promise of every request for the life of the process (~10 % of a cached read's CPU).
      // Outside a withDeadline/withMetadata scope its store is empty anyway; such a call enables it again.
      if (client.connection instanceof Connection) client.connection.callContextStorage.disable();
      checks.push({
        name: 'temporal',
        check: async () => {
          await client.connection.workflowService.getSystemInfo({});
        },
      });
      temporal = client;
    }

    const onDemand = new Map<OnDemandRedis, Redis>();
    closers.push(async () => {
      await Promise.all([...onDemand.values()].map((r) => r.quit().catch(() => undefined)));
    });
    const redisFor = (purpose: OnDemandRedis): Redis | undefined => {
      if (!env.REDIS_URL) return undefined;
      let redis = onDemand.get(purpose);
      if (!redis) {
        redis = connectRedis(env.REDIS_URL, purpose);
        onDemand.set(purpose, redis);
      }
      return redis;
    };

    const secrets = secretBoxFromEnv(env);
    let shared: SharedState | undefined;
    const caches: Container['caches'] = {};
    let targets: TargetsRepo | undefined;
    if (opts.cache || opts.aggregatesCache) {
      const state = createSharedState(env, logger);
      shared = state;
      closers.push(() => state.close());
      const cached = createCachedTargetsRepo(db, state, { registry: metrics.registry, logger });
      closers.push(() => cached.routingConfigs.close());
      caches.routingConfigs = cached.routingConfigs;
      targets = cached.targets;
    }
    const repos = createRepos(db, secrets, targets);
    if (opts.aggregatesCache && shared) {
      // Metrics queries: open windows hot in Redis, stored windows through the three-tier cache.
      const reader = createAggregatesReader({
        repo: repos.aggregates,
        bus: shared.bus,
        ...(shared.redis ? { redis: shared.redis } : {}),
        registry: metrics.registry,
        logger,
      });
      closers.push(() => reader.close());
      caches.aggregates = reader;
    }

    const redisCheck = (): ReadinessCheck | undefined => {
      if (!env.REDIS_URL) return undefined;
      return {
        name: 'redis',
        check: async () => {
          const open = [...(shared?.redis ? [shared.redis] : []), ...onDemand.values()];
          await Promise.all(open.map((r) => r.ping()));
        },
      };
    };

    const taskQueues = opts.taskQueues ?? taskQueuesOf(env);
    const services = temporal
      ? createServices({
          repos,
          temporal,
          taskQueues,
          env,
          logger,
          db,
          secrets,
          caches,
          ...(shared ? { bus: shared.bus } : {}),
          ...(shared?.redis ? { redis: shared.redis } : {}),
        })
      : undefined;
    return {
      env,
      logger,
      metrics,
      db,
      repos,
      secrets,
      settings: createSettingsResolver(env, repos.integrations),
      taskQueues,
      ...(temporal ? { temporal } : {}),
      ...(services ? { services } : {}),
      ...(shared ? { bus: shared.bus } : {}),
      ...(shared?.redis ? { redis: shared.redis } : {}),
      caches,
      redisFor,
      checks,
      redisCheck,
      close,
    };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}
