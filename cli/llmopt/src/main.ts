/**
 * llmopt: the LLM Auto-Optimizer from the terminal. Every command calls the REST API through the typed
 * client (src/client.ts); errors are one line on stderr with the API's problem detail, and the exit code
 * says what happened: 0 success, 2 usage or invalid input, 3 not found, 4 conflict or precondition
 * failed, 5 unavailable or rate limited, 6 unauthenticated or forbidden, 7 a watched run that ended
 * rolled back, aborted or failed.
 */
import { Command, CommanderError, Option } from 'commander';
import { createApi, DEFAULT_API_URL, resolveApiKey, unreachable } from './client';
import type { Ctx } from './context';
import { CliError, EXIT } from './errors';
import { FORMATS, stdoutOut, type Format } from './output';
import { auditCommand, keysCommand } from './commands/access';
import { adminCommand, whoamiCommand } from './commands/admin';
import { completionCommand } from './commands/completion';
import { configCommand } from './commands/config';
import { decisionsCommand } from './commands/decisions';
import { doctorCommand } from './commands/doctor';
import { integrationsCommand, webhooksCommand } from './commands/hooks';
import { metricsCommand } from './commands/metrics';
import { optimizeCommand } from './commands/optimize';
import { rolloutsCommand } from './commands/rollouts';
import { targetsCommand } from './commands/targets';

interface GlobalOptions {
  apiUrl: string;
  apiKey?: string;
  output: Format;
}

export function buildProgram(): { program: Command; ctx: () => Ctx } {
  const program = new Command('llmopt')
    .description('The LLM Auto-Optimizer from the terminal.')
    .version('0.1.0')
    .option('--api-url <url>', 'API base URL (LLMOPT_API_URL)', process.env.LLMOPT_API_URL ?? DEFAULT_API_URL)
    .option(
      '--api-key <key>',
      'API key (LLMOPT_API_KEY; on an `npm start` machine, .local/data/admin-api-key)',
    )
    .addOption(new Option('-o, --output <format>', 'output format').choices(FORMATS).default('table'))
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(`llmopt: ${s.replace(/^error: /, '')}`) });

  let built: Ctx | undefined;
  const opts = () => program.opts<GlobalOptions>();
  const ctx = (): Ctx => {
    if (built) return built;
    const o = opts();
    built = { api: createApi(o.apiUrl, resolveApiKey(o.apiKey)), out: stdoutOut(o.output), apiUrl: o.apiUrl };
    return built;
  };
  targetsCommand(program, ctx);
  configCommand(program, ctx);
  optimizeCommand(program, ctx);
  decisionsCommand(program, ctx);
  rolloutsCommand(program, ctx);
  metricsCommand(program, ctx);
  webhooksCommand(program, ctx);
  integrationsCommand(program, ctx);
  keysCommand(program, ctx);
  auditCommand(program, ctx);
  adminCommand(program, ctx);
  whoamiCommand(program, ctx);
  doctorCommand(program, ctx, () => resolveApiKey(opts().apiKey) !== undefined);
  completionCommand(program);
  // Subcommands inherit exitOverride and the error output of the program.
  for (const c of program.commands) c.exitOverride().configureOutput(program.configureOutput());
  return { program, ctx };
}

/** The line and exit code of whatever ended a command. */
export function failure(err: unknown, apiUrl: string, keyGiven: boolean): { line?: string; code: number } {
  if (err instanceof CommanderError) {
    // Commander printed its own message (or the help) already.
    return { code: err.exitCode === 0 ? EXIT.ok : EXIT.usage };
  }
  if (err instanceof CliError) {
    const hint =
      err.exitCode === EXIT.auth && !keyGiven
        ? ' — no API key: pass --api-key, set LLMOPT_API_KEY, or run `npm start` once'
        : '';
    return { line: `llmopt: ${err.message}${hint}`, code: err.exitCode };
  }
  if (err instanceof TypeError && /fetch failed/.test(err.message))
    return { line: `llmopt: ${unreachable(apiUrl, err).message}`, code: EXIT.unavailable };
  return { line: `llmopt: ${err instanceof Error ? err.message : String(err)}`, code: EXIT.failure };
}

export async function main(argv: string[]): Promise<number> {
  const { program } = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    const o = program.opts<GlobalOptions>();
    const f = failure(err, o.apiUrl ?? DEFAULT_API_URL, resolveApiKey(o.apiKey) !== undefined);
    if (f.line) process.stderr.write(`${f.line}\n`);
    return f.code;
  }
}

process.exitCode = await main(process.argv);
