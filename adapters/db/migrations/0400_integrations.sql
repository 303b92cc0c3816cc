-- Up Migration

-- Webhook subscriptions. The secret signs deliveries; after a rotation the previous secret keeps
-- signing (as a second v1 signature) until previous_secret_expires_at, so receivers can roll over.
CREATE TABLE webhook_subscriptions (
  id                         text PRIMARY KEY,
  url                        text NOT NULL,
  description                text NOT NULL DEFAULT '',
  -- Event types delivered; '*' is every type.
  events                     text[] NOT NULL,
  -- Only events of these targets; empty is every target.
  targets                    text[] NOT NULL DEFAULT '{}',
  active                     boolean NOT NULL DEFAULT true,
  disabled_reason            text,
  secret                     text NOT NULL,
  previous_secret            text,
  previous_secret_expires_at timestamptz,
  created_at                 timestamptz NOT NULL DEFAULT now(),
  updated_at                 timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_subscriptions_active ON webhook_subscriptions (active) WHERE active;

-- One delivery of one event to one subscription. A redelivery is a new row pointing at the original.
CREATE TABLE webhook_deliveries (
  id              text PRIMARY KEY,
  subscription_id text NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
  event_id        text NOT NULL REFERENCES domain_events (id),
  event_type      text NOT NULL,
  -- pending -> succeeded | dead_lettered
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'dead_lettered')),
  attempts        integer NOT NULL DEFAULT 0,
  last_status     integer,
  last_error      text,
  dead_letter_reason text,
  redelivery_of   text REFERENCES webhook_deliveries (id) ON DELETE SET NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  completed_at    timestamptz
);
-- The first delivery of an event to a subscription is unique, so a replayed plan never sends twice.
CREATE UNIQUE INDEX webhook_deliveries_first ON webhook_deliveries (subscription_id, event_id) WHERE redelivery_of IS NULL;
CREATE INDEX webhook_deliveries_by_subscription ON webhook_deliveries (subscription_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_dead ON webhook_deliveries (subscription_id) WHERE status = 'dead_lettered';

-- Every attempt, as the subscriber answered it.
CREATE TABLE webhook_delivery_attempts (
  delivery_id   text NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
  attempt       integer NOT NULL CHECK (attempt > 0),
  started_at    timestamptz NOT NULL,
  status_code   integer,
  latency_ms    integer NOT NULL,
  error         text,
  response_body text,
  signatures    integer NOT NULL,
  PRIMARY KEY (delivery_id, attempt)
);

-- Integration settings made through the API; they override the environment. Secrets live apart
-- from settings so no read path can return them by accident.
CREATE TABLE integration_configs (
  kind       text PRIMARY KEY CHECK (kind IN ('slack', 'github', 'jira', 'anthropic')),
  enabled    boolean NOT NULL DEFAULT true,
  settings   jsonb NOT NULL DEFAULT '{}'::jsonb,
  secrets    jsonb NOT NULL DEFAULT '{}'::jsonb,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Fingerprint -> external issue, so one incident opens one GitHub issue / one Jira issue.
CREATE TABLE integration_fingerprints (
  kind        text NOT NULL,
  fingerprint text NOT NULL,
  external_id text,
  external_url text,
  event_id    text NOT NULL,
  resolved_at timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (kind, fingerprint)
);

-- Down Migration
DROP TABLE integration_fingerprints;
DROP TABLE integration_configs;
DROP TABLE webhook_delivery_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_subscriptions;
