/**
 * The container image (infra/deploy/Dockerfile) without a Docker engine: hadolint lints the file, and the
 * build stage's COPY and RUN steps run for real in a clean folder holding the build context, the runtime
 * stage is assembled from it by its COPY --from steps, and a bundled process started from that runtime
 * folder, as the image's non-root user and with the image's ENV, answers as it would in a container.
 */
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../platform/net';
import { PROJECT_ROOT } from '../../platform/paths';
import { eventually, testEnv, uniqueName } from '../helpers/env';
import {
  buildContextFiles,
  execForm,
  parseDockerfile,
  replayStage,
  stageEnv,
  type Stage,
} from './dockerfile';
import { DEPLOY_DIR, INSTALL_TIMEOUT_MS, installTools, run, spawnProcess, type Tools } from './tools';

const DOCKERFILE = join(DEPLOY_DIR, 'Dockerfile');
const IMAGE_UID = 1000;
const BUILD_TIMEOUT_MS = 20 * 60_000;

const stages = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
const runtime = stages.at(-1)!;
const instruction = (stage: Stage, keyword: string) =>
  stage.instructions.filter((i) => i.keyword === keyword);

let tools: Tools;
beforeAll(async () => {
  tools = await installTools();
}, INSTALL_TIMEOUT_MS);

describe('Dockerfile', () => {
  it('passes hadolint', async () => {
    const r = await run(tools.HADOLINT, ['--no-color', DOCKERFILE]);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('is multi-stage from pinned bases, runs as a non-root user, and has a health check', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages)
      expect(stage.from).toMatch(/^[\w./-]+(:\d+\.\d+\.\d+[\w.-]*|@sha256:[0-9a-f]{64})$/);
    const user = instruction(runtime, 'USER').at(-1)?.args ?? '';
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
    expect(instruction(runtime, 'HEALTHCHECK')).toHaveLength(1);
    for (const stage of stages)
      for (const add of instruction(stage, 'ADD')) expect(add.args).not.toMatch(/https?:\/\//);
    // The process is chosen by the command: node is the entrypoint, the API the default command.
    expect(execForm(instruction(runtime, 'ENTRYPOINT')[0]!.args)[0]).toBe('node');
    expect(execForm(instruction(runtime, 'CMD')[0]!.args)).toEqual(['dist/api/main.mjs']);
  });
});

describe('the image built by its own steps in a clean folder', () => {
  const root = mkdtempSync(join(tmpdir(), 'llmopt-image-'));
  const context = join(root, 'context');
  const app = join(root, 'app');
  const dataDir = join(root, 'data');
  const imageEnv = stageEnv(runtime);
  const entrypoint = () => execForm(instruction(runtime, 'ENTRYPOINT')[0]!.args);

  /** Starts a bundled entrypoint from the assembled runtime folder as the image would. */
  const start = (args: string[], env: Record<string, string>) => {
    const [command, ...flags] = entrypoint();
    return spawnProcess(command!, [...flags, ...args], {
      cwd: app,
      uid: IMAGE_UID,
      gid: IMAGE_UID,
      env: { PATH: process.env.PATH, ...imageEnv, DATA_DIR: dataDir, ...env },
    });
  };

  beforeAll(async () => {
    chmodSync(root, 0o755);
    for (const file of await buildContextFiles(PROJECT_ROOT, join(DEPLOY_DIR, 'Dockerfile.dockerignore'))) {
      mkdirSync(dirname(join(context, file)), { recursive: true });
      copyFileSync(join(PROJECT_ROOT, file), join(context, file));
    }
    // The build stage works in /app, like the runtime stage: the workers find their prebuilt workflow
    // bundle by a hash that includes the source paths, so both stages must use the same folder.
    const [build, ...rest] = stages;
    await replayStage(build!, { root, context, stageRoots: {} });
    renameSync(app, join(root, 'app-build'));
    const buildRoot = join(root, 'build-root');
    mkdirSync(buildRoot);
    renameSync(join(root, 'app-build'), join(buildRoot, 'app'));
    for (const stage of rest)
      await replayStage(stage, {
        root,
        context,
        stageRoots: { [build!.name!]: buildRoot },
        // mkdir/chown of DATA_DIR under /var/lib: stood for here by a folder of the image's user.
        skipRun: (cmd) => cmd.includes(imageEnv.DATA_DIR!),
      });
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o700);
    await run('chown', ['-R', `${IMAGE_UID}:${IMAGE_UID}`, dataDir]);
  }, BUILD_TIMEOUT_MS);

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('leaves no dev dependency and no TypeScript entrypoint to run', async () => {
    // (typescript stays: a production dependency names it as an optional peer.)
    for (const dev of ['vitest', 'eslint', 'prettier', '@vitest/coverage-v8'])
      expect(existsSync(join(app, 'node_modules', dev))).toBe(false);
    for (const file of ['dist/api/main.mjs', 'dist/workers/stream.mjs', 'dist/infra/deploy/migrate.mjs'])
      expect(readFileSync(join(app, file), 'utf8').length).toBeGreaterThan(0);
  });

  it('stops a process with a bad variable with exit 78 and the variable named', async () => {
    const r = await start(['dist/workers/orchestration.mjs'], { DATABASE_URL: 'mysql://db/llmopt' }).result;
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/DATABASE_URL: must start with postgres:\/\/ or postgresql:\/\//);
  });

  it('runs the migration entrypoint to its end', async () => {
    const r = await start(['dist/infra/deploy/migrate.mjs'], { DATABASE_URL: testEnv.DATABASE_URL }).result;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/schema (migrated|already current)/);
  });

  it('starts the orchestration worker read-only and non-root, healthy by the image health check', async () => {
    const healthPort = await freePort();
    const env = {
      DATABASE_URL: testEnv.DATABASE_URL,
      TEMPORAL_ADDRESS: testEnv.TEMPORAL_ADDRESS,
      TASK_QUEUE_ORCHESTRATION: uniqueName('image-orchestration'),
      HEALTH_PORT: String(healthPort),
      SECRETS_KEY: Buffer.alloc(32, 7).toString('base64'),
    };
    const worker = start(['dist/workers/orchestration.mjs'], env);
    const [probe, ...probeArgs] = execForm(instruction(runtime, 'HEALTHCHECK')[0]!.args);
    const readyz = probeArgs.map((a) => (a === '/healthz' ? '/readyz' : a));
    try {
      await eventually(
        async () =>
          (await run(probe!, readyz, { cwd: app, env: { ...env, PATH: process.env.PATH } })).code === 0,
        {
          timeoutMs: 60_000,
          what: 'the orchestration worker to be ready',
        },
      );
      const health = await run(probe!, probeArgs, { cwd: app, env: { ...env, PATH: process.env.PATH } });
      expect(health.code).toBe(0);
      const metrics = await fetch(`http://127.0.0.1:${healthPort}/metrics`);
      expect(await metrics.text()).toMatch(/^# HELP /m);
    } finally {
      worker.child.kill('SIGTERM');
    }
    // SIGTERM drains and exits 0; the code folder is read-only to this user, so nothing tried to write there.
    const stopped = await worker.result;
    expect(stopped.stdout + stopped.stderr).not.toMatch(/EACCES|EROFS/);
    expect(stopped.code).toBe(0);
  }, 120_000);
});
