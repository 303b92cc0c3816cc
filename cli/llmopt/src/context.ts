/** What every command runs with: the typed client, the output format and where the API is. */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Api } from './client';
import { CliError, EXIT } from './errors';
import type { Out } from './output';

export interface Ctx {
  api: Api;
  out: Out;
  apiUrl: string;
}

/** The context, built once the global options are parsed (commands ask for it in their action). */
export type GetCtx = () => Ctx;

/** A YAML or JSON file (JSON is YAML), or stdin for `-`. */
export function readDocument(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`, EXIT.usage);
  }
  try {
    return parse(text) as unknown;
  } catch (err) {
    throw new CliError(
      `${file} is neither YAML nor JSON: ${(err as Error).message.split('\n')[0]}`,
      EXIT.usage,
    );
  }
}

/** A positive integer option, or a usage error naming it. */
export function intOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new CliError(`${name} must be a whole number, got "${value}"`, EXIT.usage);
  return Number(value);
}

export function usage(message: string): CliError {
  return new CliError(message, EXIT.usage);
}
