import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Logger } from '../../platform/logger';
import type { ReadinessCheck } from '../../platform/process';
import type { ContainerWithTemporal } from '../../app/compose';
import type { Identity } from './permissions';
import type { ApiKeysRepo } from '../../adapters/db/repos/api-keys';
import type { AuditLogRepo } from '../../adapters/db/repos/audit-log';
import type { IdempotencyRepo } from '../../adapters/db/repos/idempotency';
import type { RateLimitFields } from '../middleware/rate-limit';
import type { IngestFront } from '../../pipeline/front';

/** The stores the security middleware writes and reads (api/middleware/security.ts). */
export interface SecurityRepos {
  apiKeys: ApiKeysRepo;
  audit: AuditLogRepo;
  idempotency: IdempotencyRepo;
}

/**
 * Everything the API needs: the process's container (app/compose.ts) whole, with a Temporal client, and
 * what only an API process has. Tests compose over the real local services and spread in overrides.
 */
export interface ApiDeps extends ContainerWithTemporal {
  /** Readiness of the API: the container's checks, Redis, the ingest front's. */
  checks: ReadinessCheck[];
  /** More text for /metrics (a cluster primary's workers). */
  metricsSources: (() => Promise<string>)[];
  isStopping?: () => boolean;
  /** Security stores to use instead of the container's repositories (tests count or fail their calls). */
  security?: Partial<SecurityRepos>;
  /** Ingest front door (WAL pipeline or Kafka producer); POST /v1/events and /v1/traces answer 503 when absent. */
  ingest?: IngestFront;
  /** The price book of the pipeline in this process, refreshed after a price change. */
  dataPlane?: { onPricesChanged?: () => void | Promise<void> };
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
