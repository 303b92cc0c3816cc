/**
 * `llmopt completion` scripts, loaded by the shell they are for, complete commands, subcommands and
 * options. bash is always there; zsh and fish are loaded where installed (their scripts are still
 * generated and checked for the command tree everywhere).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run';

const dir = mkdtempSync(join(tmpdir(), 'llmopt-completion-'));
const scripts: Record<string, string> = {};

beforeAll(async () => {
  for (const shell of ['bash', 'zsh', 'fish']) {
    const r = await runCli(['completion', shell]);
    expect(r.code).toBe(0);
    scripts[shell] = join(dir, `llmopt.${shell}`);
    writeFileSync(scripts[shell], r.stdout);
  }
});

const installed = (shell: string) => spawnSync('sh', ['-c', `command -v ${shell}`]).status === 0;

/** What bash offers after `line` (the word being completed is the last one, possibly empty). */
function bashComplete(line: string[]): string[] {
  const words = line.map((w) => `'${w}'`).join(' ');
  const out = execFileSync(
    'bash',
    [
      '-c',
      `source '${scripts.bash}'; COMP_WORDS=(${words}); COMP_CWORD=${line.length - 1}; _llmopt; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ],
    { encoding: 'utf8' },
  );
  return out.split('\n').filter(Boolean);
}

describe('llmopt completion', () => {
  it('bash: registers for llmopt and completes commands, subcommands and their options', () => {
    expect(
      execFileSync('bash', ['-c', `source '${scripts.bash}'; complete -p llmopt`], { encoding: 'utf8' }),
    ).toBe('complete -F _llmopt llmopt\n');
    expect(bashComplete(['llmopt', 'ro'])).toEqual(['rollouts']);
    expect(bashComplete(['llmopt', 'rollouts', ''])).toEqual(
      expect.arrayContaining(['list', 'get', 'pause', 'resume', 'abort', 'approve', 'revert']),
    );
    // Global options and their values before the command do not lose the path.
    expect(bashComplete(['llmopt', '-o', 'json', 'config', 's'])).toEqual(['set']);
    expect(bashComplete(['llmopt', 'config', 'set', 'support-bot', '--if'])).toEqual(['--if-match']);
    expect(bashComplete(['llmopt', 'rollouts', 'get', '--w'])).toEqual(['--watch']);
    // An interactive shell that sourced it completes through readline's own machinery too.
    const interactive = spawnSync('bash', ['--norc', '-ic', `source '${scripts.bash}'; complete -p llmopt`], {
      encoding: 'utf8',
    });
    expect(interactive.stdout).toContain('-F _llmopt llmopt');
  });

  it('zsh and fish: scripts for the same tree, loaded where the shell is installed', () => {
    const zsh = execFileSync('cat', [scripts.zsh!], { encoding: 'utf8' });
    expect(zsh).toContain('#compdef llmopt');
    expect(zsh).toContain('"llmopt rollouts" "list get pause resume abort approve revert');
    const fish = execFileSync('cat', [scripts.fish!], { encoding: 'utf8' });
    expect(fish).toContain("complete -c llmopt -n '__fish_use_subcommand' -a 'targets config optimize");
    if (installed('zsh')) {
      const r = spawnSync(
        'zsh',
        ['-c', `autoload -U compinit && compinit -u; source '${scripts.zsh}'; print -r -- $_comps[llmopt]`],
        {
          encoding: 'utf8',
        },
      );
      expect(r.stdout.trim()).toBe('_llmopt');
    }
    if (installed('fish')) {
      const r = spawnSync('fish', ['-c', `source '${scripts.fish}'; complete -C 'llmopt rollouts '`], {
        encoding: 'utf8',
      });
      expect(r.stdout).toContain('revert');
    }
  });
});
