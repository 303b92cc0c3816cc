/**
 * The one-host compose file (infra/deploy/compose.yaml), validated against the compose-spec schema that
 * Docker Compose itself uses (shipped in the compose-go module), and read for what an operator relies on:
 * every process from the one image, the migration first, health checks, the real dependencies.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENTRYPOINTS } from '../../infra/build';
import { DEPLOY_DIR, INSTALL_TIMEOUT_MS, installTools, parseYaml, validateSchema, type Tools } from './tools';

interface Service {
  image?: string;
  command?: string[];
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string>;
  healthcheck?: { test?: string[]; disable?: boolean };
  ports?: string[];
}
interface Compose {
  services: Record<string, Service>;
}

const PROCESSES: Record<string, string> = {
  api: 'dist/api/main.mjs',
  stream: 'dist/workers/stream.mjs',
  'orchestration-worker': 'dist/workers/orchestration.mjs',
  'analysis-worker': 'dist/workers/analysis.mjs',
  'integrations-worker': 'dist/workers/integrations.mjs',
};

let tools: Tools;
let compose: Compose;
beforeAll(async () => {
  tools = await installTools();
  [compose] = (await parseYaml(tools, readFileSync(join(DEPLOY_DIR, 'compose.yaml'), 'utf8'))) as [Compose];
}, INSTALL_TIMEOUT_MS);

describe('compose.yaml', () => {
  it('is valid against the compose-spec schema', async () => {
    expect(await validateSchema(tools, tools.COMPOSE_SCHEMA, [compose])).toEqual([]);
  });

  it('fails the schema when a service is wrong (the check is live)', async () => {
    const broken = structuredClone(compose);
    broken.services.api!.depends_on = { migrate: { condition: 'service_finished' } };
    (broken.services.stream as Record<string, unknown>).restart_policy = 'always';
    const errors = await validateSchema(tools, tools.COMPOSE_SCHEMA, [broken]);
    expect(errors.join('\n')).toMatch(/services\/api\/depends_on/);
    expect(errors.join('\n')).toMatch(/restart_policy/);
  });

  it('runs the five processes from the one image, each healthy by its health check, after the migration', () => {
    const app = compose.services.api!.image;
    for (const [name, entry] of Object.entries(PROCESSES)) {
      const service = compose.services[name]!;
      expect(ENTRYPOINTS.map((e) => `dist/${e.replace(/\.ts$/, '.mjs')}`)).toContain(entry);
      expect(service.image).toBe(app);
      expect(service.command).toEqual([entry]);
      expect(service.depends_on?.migrate).toEqual({ condition: 'service_completed_successfully' });
      expect(service.healthcheck?.test).toEqual([
        'CMD',
        'node',
        'dist/infra/deploy/healthcheck.mjs',
        '/healthz',
      ]);
      // A worker's health server port must be fixed for its health check to find it.
      if (name !== 'api') expect(Number(service.environment?.HEALTH_PORT)).toBeGreaterThan(0);
      expect(service.environment?.NODE_ENV).toBe('production');
    }
    expect(compose.services.migrate!.command).toEqual(['dist/infra/deploy/migrate.mjs']);
    expect(compose.services.migrate!.image).toBe(app);
  });

  it('wires the processes to the real dependencies, not to embedded ones', () => {
    for (const dep of ['postgres', 'temporal', 'temporal-ui', 'redis', 'kafka', 'jaeger', 'prometheus'])
      expect(compose.services[dep], dep).toBeDefined();
    const env = compose.services.api!.environment!;
    expect(env.DATABASE_URL).toMatch(/@postgres:5432\//);
    expect(env.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(env.REDIS_URL).toBe('redis://redis:6379');
    expect(env.KAFKA_BROKERS).toBe('kafka:9092');
    expect(env.SECRETS_KEY).toMatch(/^\$\{SECRETS_KEY:\?/);
    expect(compose.services.api!.environment!.HOST).toBe('0.0.0.0');
  });

  it('points Prometheus at services that exist', async () => {
    const [config] = (await parseYaml(
      tools,
      readFileSync(join(DEPLOY_DIR, 'compose', 'prometheus.yml'), 'utf8'),
    )) as [{ scrape_configs: { static_configs: { targets: string[] }[] }[] }];
    const targets = config.scrape_configs.flatMap((s) => s.static_configs.flatMap((c) => c.targets));
    expect(targets.length).toBeGreaterThan(0);
    for (const target of targets) expect(compose.services[target.split(':')[0]!], target).toBeDefined();
  });
});
