/**
 * The typed API client every command calls through: openapi-fetch over the `paths` generated from the
 * API's OpenAPI document (src/api-types.ts), so a request or a response that no longer matches the API
 * is a type error here, not a surprise at a user's terminal.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import createClient, { type Client } from 'openapi-fetch';
import type { paths } from './api-types';
import { apiError, CliError, EXIT } from './errors';

export type Api = Client<paths>;

export const DEFAULT_API_URL = 'http://127.0.0.1:8080';

/** The repository this CLI lives in: `npm start` run there writes its admin key to .local/data. */
const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/**
 * The admin key files tried when no key is given: LLMOPT_ADMIN_KEY_FILE alone when set, else the one
 * `npm start` writes under DATA_DIR, in the current folder, then in this repository.
 */
export function adminKeyFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.LLMOPT_ADMIN_KEY_FILE) return [env.LLMOPT_ADMIN_KEY_FILE];
  const dataDirs = [env.DATA_DIR, '.local/data', join(REPO_ROOT, '.local', 'data')].filter(
    (d): d is string => typeof d === 'string' && d.length > 0,
  );
  return [...new Set(dataDirs.map((d) => join(d, 'admin-api-key')))];
}

/** The API key: --api-key, else LLMOPT_API_KEY, else the admin key file of an `npm start` machine. */
export function resolveApiKey(
  given: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (given) return given;
  if (env.LLMOPT_API_KEY) return env.LLMOPT_API_KEY;
  for (const file of adminKeyFiles(env)) {
    if (existsSync(file)) {
      const key = readFileSync(file, 'utf8').trim();
      if (key) return key;
    }
  }
  return undefined;
}

export function createApi(baseUrl: string, apiKey: string | undefined): Api {
  const client = createClient<paths>({
    baseUrl: baseUrl.replace(/\/+$/, ''),
    headers: {
      'user-agent': 'llmopt-cli',
      ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
    },
  });
  return client;
}

interface Result<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The answer's body, or the API's problem as a CliError with the exit code of its status. */
export async function call<T>(request: Promise<Result<T>>): Promise<{ data: T; response: Response }> {
  const r = await request;
  if (!r.response.ok) throw apiError(r.response.status, r.error, r.response.statusText);
  return { data: r.data as T, response: r.response };
}

/** call() for when only the body matters. */
export async function body<T>(request: Promise<Result<T>>): Promise<T> {
  return (await call(request)).data;
}

/** A network failure as the one line a user can act on. */
export function unreachable(baseUrl: string, err: unknown): CliError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
  return new CliError(
    `cannot reach the API at ${baseUrl} (${why}): start it with \`npm start\`, or pass --api-url / set LLMOPT_API_URL`,
    EXIT.unavailable,
  );
}
