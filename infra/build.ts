/**
 * Bundles each process entrypoint into dist/ with esbuild (dependencies stay external), so a process
 * starts from one plain JS file instead of transpiling TypeScript on every start. Skipped when dist/ is
 * newer than every source file. The workflow bundle is built separately (platform/temporal.ts) because
 * workflow code runs in Temporal's sandbox.
 */
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { PROJECT_ROOT } from '../platform/paths';

export const ENTRYPOINTS = [
  'api/main.ts',
  'workers/orchestration.ts',
  'workers/analysis.ts',
  'workers/integrations.ts',
  'workers/stream.ts',
  'infra/supervisor.ts',
  // Not a process: the data plane's shard worker thread (INGEST_SHARD_THREAD), loaded by pipeline/threaded.ts.
  'pipeline/shard-thread.ts',
];

const SOURCE_DIRS = [
  'api',
  'app',
  'activities',
  'workers',
  'workflows',
  'pipeline',
  'adapters',
  'platform',
  'infra',
  'domain',
  'proto',
];
const DIST = join(PROJECT_ROOT, 'dist');
const STAMP = join(DIST, '.built');

function newestSource(): number {
  let newest = statSync(join(PROJECT_ROOT, 'package-lock.json')).mtimeMs;
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (/\.(ts|proto|sql)$/.test(name)) newest = Math.max(newest, st.mtimeMs);
    }
  };
  for (const d of SOURCE_DIRS) walk(join(PROJECT_ROOT, d));
  return newest;
}

export async function buildIfStale(force = false): Promise<boolean> {
  if (!force && existsSync(STAMP) && statSync(STAMP).mtimeMs >= newestSource()) return false;
  await build({
    absWorkingDir: PROJECT_ROOT,
    entryPoints: ENTRYPOINTS,
    outdir: DIST,
    outbase: PROJECT_ROOT,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    packages: 'external',
    sourcemap: 'linked',
    outExtension: { '.js': '.mjs' },
    logLevel: 'warning',
  });
  writeFileSync(STAMP, new Date().toISOString());
  return true;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const built = await buildIfStale(process.argv.includes('--force'));
  process.stdout.write(built ? 'built dist/\n' : 'dist/ is up to date\n');
}
