/** The one HTTP helper of the SDK: bounded time, never a hanging socket, headers merged once. */

export interface HttpOptions {
  baseUrl: string;
  headers: Record<string, string>;
  timeoutMs: number;
  fetch: typeof fetch;
}

export async function request(
  http: HttpOptions,
  method: 'GET' | 'POST',
  path: string,
  init: { headers?: Record<string, string>; body?: string } = {},
): Promise<Response> {
  const url = new URL(path, http.baseUrl.endsWith('/') ? http.baseUrl : `${http.baseUrl}/`);
  return http.fetch(url, {
    method,
    headers: { ...http.headers, ...init.headers },
    ...(init.body !== undefined ? { body: init.body } : {}),
    signal: AbortSignal.timeout(http.timeoutMs),
  });
}

/** Seconds or an HTTP date from a Retry-After header, as milliseconds from now. */
export function retryAfterMs(res: Response): number | undefined {
  const h = res.headers.get('retry-after');
  if (!h) return undefined;
  const seconds = Number(h);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(h);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}
