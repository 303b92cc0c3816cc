/**
 * The one HTTP exchange of the gateway's provider clients: Node's fetch (pooled keep-alive connections,
 * the body as a stream), a deadline for the answer's headers, the caller's abort passed on, and no
 * redirect followed. Providers are configured by admins and may live on private or loopback addresses,
 * so the address itself is not judged; but a 3xx would send the request (and its key) to a host nobody
 * configured, so it is refused as DestinationRefused, never followed.
 */
import { DestinationRefused } from '../../platform/outbound';

/** Where a provider lives and the key it wants (null: none, a local server). */
export interface ProviderEndpoint {
  base_url: string;
  api_key: string | null;
}

/** The provider gave no answer's headers within the deadline. */
export class ProviderTimeout extends Error {
  override name = 'ProviderTimeout';
}

/** The provider could not be reached (refused connection, reset, DNS). */
export class ProviderUnreachable extends Error {
  override name = 'ProviderUnreachable';
}

export interface ExchangeOptions {
  /** Deadline for the answer's headers (a stream's body may take longer). */
  timeoutMs: number;
  /** The client went away: the upstream request is cancelled with it. */
  signal?: AbortSignal;
}

/** `base_url` and `path` joined by exactly one slash. */
export function endpointUrl(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

/**
 * POSTs `body` as JSON and answers the provider's response as soon as its headers arrive (any status
 * but a redirect). The returned `abort` cancels the exchange, body included; so does `opts.signal`
 * for as long as the body is read.
 */
export async function postJson(
  url: string,
  headers: Record<string, string>,
  body: unknown,
  opts: ExchangeOptions,
): Promise<{ response: Response; abort: (reason?: unknown) => void }> {
  const controller = new AbortController();
  const abort = (reason?: unknown) => controller.abort(reason);
  const onClientAbort = () => abort(opts.signal?.reason);
  if (opts.signal?.aborted) onClientAbort();
  opts.signal?.addEventListener('abort', onClientAbort, { once: true });
  let timedOut = false;
  const deadline = setTimeout(() => {
    timedOut = true;
    abort(new ProviderTimeout(`no answer within ${opts.timeoutMs} ms`));
  }, opts.timeoutMs);
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
      redirect: 'manual',
      signal: controller.signal,
    });
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel().catch(() => undefined);
      throw new DestinationRefused(
        `provider answered a redirect (${response.status}) to ${response.headers.get('location') ?? 'nowhere'}; redirects are not followed`,
      );
    }
    return { response, abort };
  } catch (err) {
    opts.signal?.removeEventListener('abort', onClientAbort);
    if (timedOut) throw new ProviderTimeout(`no answer within ${opts.timeoutMs} ms`);
    if (opts.signal?.aborted || err instanceof DestinationRefused) throw err;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new ProviderUnreachable(cause?.code ?? cause?.message ?? (err as Error).message);
  } finally {
    clearTimeout(deadline);
  }
}
