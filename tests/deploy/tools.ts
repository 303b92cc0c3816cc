/**
 * The validation tools of the deployment tests, installed by infra/deploy/tools.sh into a cache outside
 * the clone (instant once installed). A tool that cannot be installed fails the test file's beforeAll:
 * an artefact that was not validated must not pass as if it had been.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../platform/paths';

export const DEPLOY_DIR = join(PROJECT_ROOT, 'infra', 'deploy');

export interface Tools {
  HELM: string;
  PYTHON: string;
  KUBERNETES_VALIDATE: string;
  HADOLINT: string;
  COMPOSE_SCHEMA: string;
  SERVICEMONITOR_CRD: string;
  SYSTEMD_ANALYZE: string;
  PROMTOOL: string;
}

/** The first install builds helm and promtool from source (minutes); later calls only read the cache. */
export const INSTALL_TIMEOUT_MS = 40 * 60_000;

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts a command; `result` settles when it ends (never rejects on a non-zero exit). */
export function spawnProcess(
  command: string,
  args: string[],
  opts: SpawnOptions & { input?: string } = {},
): { child: ChildProcess; result: Promise<Result> } {
  const stdin = opts.input === undefined ? 'ignore' : 'pipe';
  const child = spawn(command, args, { cwd: PROJECT_ROOT, ...opts, stdio: [stdin, 'pipe', 'pipe'] });
  const result = new Promise<Result>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  // A child that exits before reading its input must not fail the test run with EPIPE.
  child.stdin?.on('error', () => undefined).end(opts.input);
  return { child, result };
}

/** Runs a command to its end and returns what it printed. */
export function run(
  command: string,
  args: string[],
  opts: SpawnOptions & { input?: string } = {},
): Promise<Result> {
  return spawnProcess(command, args, opts).result;
}

export async function installTools(): Promise<Tools> {
  const r = await run('bash', [join(DEPLOY_DIR, 'tools.sh')]);
  if (r.code !== 0) throw new Error(`infra/deploy/tools.sh failed (exit ${r.code}):\n${r.stderr}`);
  const tools = Object.fromEntries(
    r.stdout
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  ) as unknown as Tools;
  const keys: (keyof Tools)[] = [
    'HELM',
    'PYTHON',
    'KUBERNETES_VALIDATE',
    'HADOLINT',
    'COMPOSE_SCHEMA',
    'SERVICEMONITOR_CRD',
    'SYSTEMD_ANALYZE',
    'PROMTOOL',
  ];
  for (const key of keys) if (!tools[key]) throw new Error(`infra/deploy/tools.sh printed no ${key}`);
  return tools;
}

/** Parses YAML (every document of a stream) with PyYAML from the tools' venv. */
export async function parseYaml(tools: Tools, text: string): Promise<unknown[]> {
  const r = await run(
    tools.PYTHON,
    [
      '-c',
      'import json,sys,yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d is not None]))',
    ],
    { input: text },
  );
  if (r.code !== 0) throw new Error(`YAML does not parse:\n${r.stderr}`);
  return JSON.parse(r.stdout) as unknown[];
}

/**
 * Validates documents against a JSON schema with the Python jsonschema package; returns one line per
 * violation (empty: valid). `schemaKind` crd takes the openAPIV3Schema of a CustomResourceDefinition.
 */
export async function validateSchema(
  tools: Tools,
  schemaPath: string,
  docs: unknown[],
  schemaKind: 'json' | 'crd' = 'json',
): Promise<string[]> {
  const r = await run(
    tools.PYTHON,
    [join(PROJECT_ROOT, 'tests', 'deploy', 'validate.py'), schemaKind, schemaPath],
    {
      input: JSON.stringify(docs),
    },
  );
  if (r.code !== 0) throw new Error(`validate.py failed:\n${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean);
}
