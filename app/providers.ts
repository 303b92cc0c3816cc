/**
 * Providers as configuration, once for every door: the gateway calls an arm's `provider` by looking it
 * up here. Only admins reach these use cases (permission `providers:manage`), so a provider may live on
 * a private or loopback address (a local vLLM or Ollama); the gateway's client still refuses redirects.
 *
 * - The API key is sealed at rest and never returned: the view says only whether one is set.
 * - A stored key is sent only to the address it was entered for: a PUT that changes `base_url` must
 *   send `api_key` again (or `null` to clear it), else 422 naming `api_key`. Without a `base_url`
 *   change, an absent `api_key` keeps the stored one.
 * - Every change is announced on the invalidation bus, so every gateway drops what it cached at once.
 */
import { AppError, notFound } from '../domain/errors';
import { Slug } from '../domain/model';
import { urlProblem } from '../platform/outbound';
import type { InvalidationBus } from '../adapters/cache';
import {
  providerView,
  type ProviderApi,
  type ProvidersRepo,
  type ProviderView,
} from '../adapters/db/repos/providers';
import type { Caller } from './caller';

/** Invalidation-bus namespace of provider changes; the message key is the provider's name. */
export const PROVIDER_NS = 'gateway-provider';

export const ProviderName = Slug.describe('Provider name, the value of an arm\'s "provider"');

export interface ProviderInput {
  api: ProviderApi;
  /** Where its API lives, e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1. */
  base_url: string;
  /** Sealed at rest, never returned; null clears it; absent keeps it while base_url stays. */
  api_key?: string | null | undefined;
}

export interface ProvidersDeps {
  repos: { providers: ProvidersRepo };
  bus?: InvalidationBus;
}

export type ProvidersService = ReturnType<typeof createProvidersService>;

function checkUrl(url: string): void {
  const problem = urlProblem(url);
  if (problem)
    throw new AppError('validation', `base_url ${problem}`, {
      issues: [{ path: 'base_url', message: `URL ${problem}` }],
    });
}

function checkName(name: string): void {
  if (!ProviderName.safeParse(name).success)
    throw new AppError('validation', 'invalid provider name', {
      issues: [{ path: 'name', message: 'lowercase letters, digits, ".", "_" and "-"' }],
    });
}

export function createProvidersService(deps: ProvidersDeps) {
  const { providers } = deps.repos;
  const announce = (name: string) => deps.bus?.publish({ ns: PROVIDER_NS, key: name });

  return {
    async list(_caller: Caller): Promise<ProviderView[]> {
      return (await providers.list()).map(providerView);
    },

    async get(_caller: Caller, name: string): Promise<ProviderView> {
      checkName(name);
      const p = await providers.get(name);
      if (!p) throw notFound(`provider "${name}"`);
      return providerView(p);
    },

    /** Creates or replaces a provider; `created` is true for a new one. */
    async put(
      _caller: Caller,
      name: string,
      input: ProviderInput,
    ): Promise<{ provider: ProviderView; created: boolean }> {
      checkName(name);
      checkUrl(input.base_url);
      let apiKey = input.api_key;
      if (apiKey === undefined) {
        const stored = await providers.get(name);
        if (stored?.api_key && stored.base_url !== input.base_url)
          throw new AppError('validation', 'base_url changed: enter api_key again, or null to clear it', {
            issues: [
              {
                path: 'api_key',
                message: 'required when base_url changes (the stored key stays with its address)',
              },
            ],
          });
        apiKey = stored?.api_key ?? null;
      }
      const { record, created } = await providers.put({
        name,
        api: input.api,
        base_url: input.base_url,
        api_key: apiKey,
      });
      await announce(name);
      return { provider: providerView(record), created };
    },

    async remove(_caller: Caller, name: string): Promise<void> {
      checkName(name);
      if (!(await providers.remove(name))) throw notFound(`provider "${name}"`);
      await announce(name);
    },
  };
}
