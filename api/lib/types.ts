import type { Client } from '@temporalio/client';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { TaskQueues } from '../../domain/names';
import type { Env } from '../../platform/env';
import type { Logger } from '../../platform/logger';
import type { Metrics } from '../../platform/metrics';
import type { ReadinessCheck } from '../../platform/process';
import type { Db } from '../../adapters/db/pool';
import type { TargetsRepo } from '../../adapters/db/repos/targets';
import type { DecisionsRepo } from '../../adapters/db/repos/decisions';
import type { RoutingConfigCache } from '../../adapters/cache/routing-configs';
import type { AggregatesReader } from '../../pipeline/adapters/aggregates-cache';
import type { InvalidationBus } from '../../adapters/cache/bus';
import type { Redis } from 'ioredis';
import type { Identity } from './permissions';
import type { SecurityRepos } from '../middleware/security';
import type { RateLimitFields } from '../middleware/rate-limit';
import type { IngestFront } from '../../pipeline/front';
import type { AggregatesRepo } from '../../pipeline/adapters/store';
import type { PricesRepo } from '../../adapters/db/repos/prices';

/** Everything the API needs, passed in so tests build the app over real local services. */
export interface ApiDeps {
  env: Env;
  logger: Logger;
  metrics: Metrics;
  db: Db;
  temporal: Client;
  taskQueues: TaskQueues;
  repos: { targets: TargetsRepo; decisions: DecisionsRepo };
  checks: ReadinessCheck[];
  metricsSources: (() => Promise<string>)[];
  isStopping?: () => boolean;
  /** Three-tier caches (adapters/cache); reads fall back to the repositories when absent. */
  caches?: { routingConfigs?: RoutingConfigCache; aggregates?: AggregatesReader };
  /**
   * The invalidation bus of adapters/cache: API-key revocations reach every replica's credential cache and
   * deleted targets/segments every routing-config cache through it. Absent = this process only.
   */
  bus?: InvalidationBus;
  /** Redis shared by API replicas for rate limits; an in-process limiter when absent. */
  redis?: Redis;
  /** Security stores (API keys, audit log, idempotency); created over `db` when absent. */
  security?: Partial<SecurityRepos>;
  /** Ingest front door (WAL pipeline or Kafka producer); POST /v1/events and /v1/traces answer 503 when absent. */
  ingest?: IngestFront;
  /** Data-plane stores; created over `db` when absent. `onPricesChanged` refreshes the pipeline's price book. */
  dataPlane?: {
    aggregates?: AggregatesRepo;
    prices?: PricesRepo;
    onPricesChanged?: () => void | Promise<void>;
  };
}

export interface AppBindings {
  Variables: {
    requestId: string;
    logger: Logger;
    /** Set by api/middleware/security.ts on every request (anonymous when no credential was sent). */
    identity: Identity;
    /** RateLimit headers of this request's decision, added to the response by createApp's outer middleware. */
    limitHeaders: RateLimitFields | undefined;
  };
}

export type AppRouter = OpenAPIHono<AppBindings>;
