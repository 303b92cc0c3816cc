/**
 * Stream process: Kafka consumer group → event-time windows → aggregates. Scales by partitions.
 * Without KAFKA_BROKERS the API feeds the pipeline directly and this process only reports health.
 */
import { createPool, ping } from '../infra/db/pool';
import { migrate } from '../infra/db/migrate';
import { runProcess } from '../infra/process';

await runProcess('stream', async (ctx) => {
  const { env, logger } = ctx;
  const db = createPool(env.DATABASE_URL, env.DATABASE_POOL_MAX);
  await migrate(env.DATABASE_URL, logger);
  ctx.addCheck({ name: 'postgres', check: () => ping(db) });
  if (!env.KAFKA_BROKERS) logger.info('KAFKA_BROKERS unset: HTTP ingestion feeds the pipeline directly');
  return {
    async stop() {
      await db.end();
    },
  };
});
