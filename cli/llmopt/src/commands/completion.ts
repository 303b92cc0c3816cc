/**
 * `llmopt completion bash|zsh|fish`: a completion script for the shell, generated from the command tree
 * itself, so it cannot fall behind the commands. Each script holds, per command path, the words that
 * may follow (subcommands, then options; the global options everywhere).
 */
import type { Command } from 'commander';
import { usage } from '../context';

type Tree = Map<string, { subcommands: string[]; options: string[] }>;

const flagsOf = (c: Command): string[] =>
  c.options.flatMap((o) => [o.long, o.short].filter((f): f is string => typeof f === 'string'));

/** Command path ("llmopt targets list") → the words that may follow it. */
export function commandTree(program: Command): Tree {
  const globals = [...flagsOf(program).filter((f) => f !== '--version' && f !== '-V'), '--help'];
  const tree: Tree = new Map();
  const walk = (c: Command, path: string) => {
    const subs = c.commands.filter((s) => s.name() !== 'help');
    tree.set(path, {
      subcommands: subs.map((s) => s.name()),
      options: [...new Set([...flagsOf(c), ...globals])],
    });
    for (const s of subs) walk(s, `${path} ${s.name()}`);
  };
  walk(program, 'llmopt');
  return tree;
}

const words = (n: { subcommands: string[]; options: string[] }) => [...n.subcommands, ...n.options].join(' ');

function bash(tree: Tree): string {
  const entries = [...tree].map(([path, n]) => `  [${JSON.stringify(path)}]=${JSON.stringify(words(n))}`);
  return `# llmopt completion for bash: eval "$(llmopt completion bash)" (or save it in ~/.local/share/bash-completion/completions/llmopt)
declare -gA _llmopt_words=(
${entries.join('\n')}
)
_llmopt() {
  local cmdpath=llmopt i w
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    [[ -n "\${_llmopt_words["$cmdpath $w"]+set}" ]] && cmdpath="$cmdpath $w"
  done
  COMPREPLY=($(compgen -W "\${_llmopt_words[$cmdpath]}" -- "\${COMP_WORDS[COMP_CWORD]}"))
}
complete -F _llmopt llmopt
`;
}

function zsh(tree: Tree): string {
  const entries = [...tree].map(([path, n]) => `    ${JSON.stringify(path)} ${JSON.stringify(words(n))}`);
  return `#compdef llmopt
# llmopt completion for zsh: eval "$(llmopt completion zsh)" (or save it as _llmopt in a folder of $fpath)
_llmopt() {
  local -A tree
  tree=(
${entries.join('\n')}
  )
  local cmdpath=llmopt w
  for w in \${words[2,CURRENT-1]}; do
    [[ "$w" == -* ]] && continue
    (( \${+tree[$cmdpath $w]} )) && cmdpath="$cmdpath $w"
  done
  compadd -- \${=tree[$cmdpath]}
}
compdef _llmopt llmopt
`;
}

function fish(tree: Tree): string {
  const lines = ['# llmopt completion for fish: llmopt completion fish | source', 'complete -c llmopt -f'];
  for (const [path, n] of tree) {
    const parts = path.split(' ').slice(1);
    // fish's own helper sees any earlier word; the path's last word, not followed by one of its own subcommands.
    const cond = parts.length
      ? `__fish_seen_subcommand_from ${parts.at(-1)}${n.subcommands.length ? `; and not __fish_seen_subcommand_from ${n.subcommands.join(' ')}` : ''}`
      : '__fish_use_subcommand';
    if (n.subcommands.length) lines.push(`complete -c llmopt -n '${cond}' -a '${n.subcommands.join(' ')}'`);
  }
  for (const o of tree.get('llmopt')!.options.filter((f) => f.startsWith('--')))
    lines.push(`complete -c llmopt -l ${o.slice(2)}`);
  return `${lines.join('\n')}\n`;
}

export function completionCommand(program: Command): void {
  program
    .command('completion <shell>')
    .description('print the completion script of bash, zsh or fish')
    .action((shell: string) => {
      const tree = commandTree(program);
      const script = { bash, zsh, fish }[shell as 'bash' | 'zsh' | 'fish'];
      if (!script) throw usage(`completion for "${shell}": choose bash, zsh or fish`);
      process.stdout.write(script(tree));
    });
}
