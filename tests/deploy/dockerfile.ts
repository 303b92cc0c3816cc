/**
 * Reads infra/deploy/Dockerfile into its stages and instructions, and replays a stage's COPY and RUN
 * steps in a plain folder, so the image's build steps are checked on a machine with no Docker engine.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { run } from './tools';

export interface Instruction {
  keyword: string;
  args: string;
}

export interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Instructions of a Dockerfile, continuation lines joined, comments and parser directives dropped. */
export function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) pending += `${line.slice(0, -1).trim()} `;
    else {
      logical.push(pending + line);
      pending = '';
    }
  }
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const upper = keyword.toUpperCase();
    if (upper === 'FROM') {
      const [image = '', as, name] = args.split(/\s+/);
      stages.push({ from: image, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`${upper} before FROM`);
      stage.instructions.push({ keyword: upper, args });
    }
  }
  return stages;
}

/** The exec form of CMD, ENTRYPOINT or HEALTHCHECK CMD, as its argument list. */
export function execForm(args: string): string[] {
  const json = args.slice(args.indexOf('['));
  return JSON.parse(json) as string[];
}

/** ENV lines as a map (the KEY=VALUE form, several per line). */
export function stageEnv(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { keyword, args } of stage.instructions) {
    if (keyword !== 'ENV') continue;
    for (const pair of args.split(/\s+/).filter(Boolean)) {
      const eq = pair.indexOf('=');
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return env;
}

/** Copies `from` (a file or a folder's content) to `to`, as COPY does for one source. */
function copyInto(from: string, to: string, destIsDir: boolean): void {
  if (!existsSync(from)) throw new Error(`COPY: ${from} does not exist`);
  const target = statSync(from).isDirectory() || !destIsDir ? to : join(to, basename(from));
  mkdirSync(statSync(from).isDirectory() ? target : join(target, '..'), { recursive: true });
  cpSync(from, target, { recursive: true });
}

/**
 * Replays one stage's WORKDIR, COPY and RUN steps with `root` standing for `/`: COPY reads the build
 * context from `context` (or, with --from=<stage>, from that stage's folder in `stageRoots`), RUN runs
 * through sh in the working directory. RUN steps of `skipRun` are left out (they touch the system).
 */
export async function replayStage(
  stage: Stage,
  opts: {
    root: string;
    context: string;
    stageRoots: Record<string, string>;
    skipRun?: (cmd: string) => boolean;
  },
): Promise<void> {
  let workdir = opts.root;
  for (const { keyword, args } of stage.instructions) {
    if (keyword === 'WORKDIR') {
      workdir = join(opts.root, args);
      mkdirSync(workdir, { recursive: true });
    } else if (keyword === 'COPY') {
      const words = args.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
      const paths = words.filter((w) => !w.startsWith('--'));
      const dest = paths.pop()!;
      const destPath = dest.startsWith('/') ? join(opts.root, dest) : join(workdir, dest);
      const destIsDir = dest.endsWith('/') || paths.length > 1;
      for (const src of paths) {
        const base = from ? opts.stageRoots[from] : opts.context;
        if (!base) throw new Error(`COPY --from=${from}: no such stage`);
        copyInto(join(base, src === '.' ? '' : src), destPath, destIsDir);
      }
    } else if (keyword === 'RUN') {
      if (opts.skipRun?.(args)) continue;
      const r = await run('sh', ['-c', args], { cwd: workdir });
      if (r.code !== 0) throw new Error(`RUN ${args} failed (exit ${r.code}):\n${r.stderr.slice(-4000)}`);
    }
  }
}

/** The build context: the repository's files (tracked, or new and not git-ignored) less the .dockerignore. */
export async function buildContextFiles(repo: string, dockerignore: string): Promise<string[]> {
  const patterns = readFileSync(dockerignore, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  for (const p of patterns)
    if (!/^(\*\.[\w.]+|[\w.-]+)$/.test(p)) throw new Error(`dockerignore pattern not understood here: ${p}`);
  const ignored = (file: string) =>
    patterns.some((p) => (p.startsWith('*.') ? file.endsWith(p.slice(1)) : file.split('/')[0] === p));
  const r = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repo });
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout.split('\0').filter((f) => f && !ignored(f) && existsSync(join(repo, f)));
}
