/**
 * Applies the schema migrations and exits: the entrypoint of the migration Job (Helm pre-install and
 * pre-upgrade hook), of the compose `migrate` service and of the systemd `llmopt-migrate` unit. Every
 * process also migrates on start (under an advisory lock, so this is safe to run beside them); running it
 * first means a new schema is in place, or the rollout stopped, before any new process starts.
 * Exits 0 when the schema is current, 1 when a migration failed, 78 on a bad configuration.
 */
import { migrate } from '../../adapters/db/migrate';
import { loadEnv } from '../../platform/env';
import { createLogger } from '../../platform/logger';

const env = loadEnv();
const logger = createLogger('migrate', env.LOG_LEVEL);
try {
  const applied = await migrate(env.DATABASE_URL, logger);
  logger.info({ applied }, applied.length > 0 ? 'schema migrated' : 'schema already current');
  logger.flush();
} catch (err) {
  logger.fatal({ err }, 'migration failed');
  logger.flush();
  process.exitCode = 1;
}
