-- Up Migration

-- Providers the gateway calls: an arm's `provider` names one of these rows, its `model` is that
-- provider's model id. `api` is the wire format the provider speaks. `api_key` is sealed with the
-- secret box (platform/secrets.ts, context `provider:<name>:api_key`) and null for a provider that
-- needs none (a local vLLM or Ollama).
CREATE TABLE gateway_providers (
  name       text PRIMARY KEY,
  api        text NOT NULL CHECK (api IN ('openai', 'anthropic')),
  base_url   text NOT NULL,
  api_key    text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE gateway_providers;
