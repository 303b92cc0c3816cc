/**
 * Stream process: Kafka consumer group → event-time windows → aggregates. Scales by partitions: each
 * partition's windows and offsets are committed together in PostgreSQL, so a SIGKILL at any moment
 * loses nothing and counts nothing twice after restart. Without KAFKA_BROKERS the API feeds the
 * embedded pipeline directly and this process only reports health.
 */
import { compose } from '../app/compose';
import { startKafkaStream, type RunningStream } from '../pipeline/adapters/kafka';
import { createLock } from '../adapters/lock';
import { runProcess } from '../platform/process';
import { startTracing, stopTracing } from '../platform/tracing';

const RETENTION_EVERY_MS = 10 * 60_000;

await runProcess('stream', async (ctx) => {
  const { env, logger } = ctx;
  await startTracing('stream', env, logger);
  const c = await compose(env, { logger, metrics: ctx.metrics, migrate: true });
  for (const check of c.checks) ctx.addCheck(check);
  // The lock shares retention rounds between stream processes; dedup ids in Redis survive a restart.
  const locks = c.redisFor('locks');
  const redisCheck = c.redisCheck();
  if (redisCheck) ctx.addCheck(redisCheck);
  else logger.warn('REDIS_URL unset: dedup is in-process and forgets ids on restart');

  let stream: RunningStream | undefined;
  if (!env.KAFKA_BROKERS) logger.info('KAFKA_BROKERS unset: HTTP ingestion feeds the pipeline directly');
  else {
    const redis = c.redisFor('ingest');
    stream = await startKafkaStream({
      env,
      db: c.db,
      logger,
      metrics: ctx.metrics,
      ...(redis ? { redis } : {}),
    });
    const consumer = stream.consumer;
    let crashed: string | undefined;
    consumer.on(consumer.events.CRASH, (e) => {
      crashed = String(e.payload.error);
      logger.error({ err: crashed, restart: e.payload.restart }, 'Kafka consumer crashed');
    });
    // kafkajs restarts a consumer that crashed on a retriable error (a broker restart, a dependency
    // failing every retry of a batch); once it is back in its group, it is ready again.
    consumer.on(consumer.events.GROUP_JOIN, () => (crashed = undefined));
    ctx.addCheck({
      name: 'kafka',
      check: async () => {
        if (crashed) throw new Error(`consumer crashed: ${crashed}`);
      },
    });
    logger.info({ topic: env.KAFKA_EVENTS_TOPIC, group: env.KAFKA_CONSUMER_GROUP }, 'consuming');
  }

  // Retention: the DELETE is idempotent, so two at once do no harm, but N processes sweeping one table
  // at once only contend; the lock lets one do each round and the others skip it.
  const { aggregates } = c.repos;
  const lock = createLock(locks, logger);
  const retention = setInterval(() => {
    const cutoff = new Date(Date.now() - env.AGGREGATES_RETENTION_DAYS * 86_400_000);
    lock
      .withLock('retention:aggregates', () => aggregates.deleteBefore(cutoff), { ttlMs: 60_000 })
      .then(
        (r) =>
          r.acquired &&
          r.value > 0 &&
          logger.info({ removed: r.value, cutoff }, 'retention removed old windows'),
      )
      .catch((err: unknown) => logger.warn({ err }, 'retention failed'));
  }, RETENTION_EVERY_MS);
  retention.unref();

  return {
    async stop() {
      clearInterval(retention);
      await stream?.stop();
      await c.close();
      await stopTracing();
    },
  };
});
