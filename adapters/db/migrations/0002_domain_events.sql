-- Up Migration

-- The outbox of domain events: written by the publishing activity (idempotent on id), read by the
-- notification layer which delivers each event to every matching subscriber and integration.
CREATE TABLE domain_events (
  id          text PRIMARY KEY,
  type        text NOT NULL,
  version     integer NOT NULL,
  occurred_at timestamptz NOT NULL,
  target      text NOT NULL,
  segment     text,
  summary     text NOT NULL,
  data        jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX domain_events_target_time ON domain_events (target, occurred_at DESC);
CREATE INDEX domain_events_type_time ON domain_events (type, occurred_at DESC);

-- Down Migration
DROP TABLE domain_events;
