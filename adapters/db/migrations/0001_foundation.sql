-- Up Migration

-- A target is one LLM-backed feature; its policy says what the optimizer may trade.
CREATE TABLE targets (
  name        text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
  description text NOT NULL DEFAULT '',
  policy      jsonb NOT NULL,
  revision    integer NOT NULL DEFAULT 1,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE segments (
  target     text NOT NULL REFERENCES targets (name) ON DELETE CASCADE,
  name       text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (target, name)
);

CREATE TABLE arms (
  target          text NOT NULL REFERENCES targets (name) ON DELETE CASCADE,
  id              text NOT NULL CHECK (id ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
  provider        text NOT NULL,
  model           text NOT NULL,
  prompt_template text NOT NULL DEFAULT 'default',
  prompt_version  integer NOT NULL DEFAULT 1,
  params          jsonb NOT NULL DEFAULT '{}'::jsonb,
  serving         jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (target, id)
);

-- Routing configs are an append-only history: a change is a new version, never an update in place,
-- so a rollback can restore the exact previous version.
CREATE TABLE routing_configs (
  target     text NOT NULL,
  segment    text NOT NULL,
  version    integer NOT NULL CHECK (version > 0),
  weights    jsonb NOT NULL,
  rollout_id text,
  reason     text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (target, segment, version),
  FOREIGN KEY (target, segment) REFERENCES segments (target, name) ON DELETE CASCADE
);

CREATE FUNCTION routing_configs_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'routing_configs are append-only: write a new version instead of updating %/% v%',
    OLD.target, OLD.segment, OLD.version;
END;
$$;

CREATE TRIGGER routing_configs_no_update BEFORE UPDATE ON routing_configs
  FOR EACH ROW EXECUTE FUNCTION routing_configs_immutable();

CREATE TABLE decisions (
  id              uuid PRIMARY KEY,
  target          text NOT NULL REFERENCES targets (name) ON DELETE CASCADE,
  segment         text NOT NULL,
  strategy        text NOT NULL,
  kind            text NOT NULL CHECK (kind IN ('model_switch', 'prompt_variant', 'rate_limit', 'batching',
                                                'cost_reduction', 'rollback', 'no_action')),
  status          text NOT NULL,
  from_version    integer,
  from_weights    jsonb,
  to_weights      jsonb,
  canary_arm      text,
  baseline_arm    text,
  expected_impact jsonb NOT NULL DEFAULT '{"cost":null,"latency":null,"quality":null}'::jsonb,
  confidence      double precision NOT NULL DEFAULT 0 CHECK (confidence >= 0 AND confidence <= 1),
  safety_checks   jsonb NOT NULL DEFAULT '[]'::jsonb,
  rollback_plan   text NOT NULL DEFAULT '',
  explanation     text NOT NULL DEFAULT '',
  cycle_id        text,
  rollout_id      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX decisions_target_created ON decisions (target, created_at DESC);
CREATE INDEX decisions_status ON decisions (status);
-- One decision per cycle and segment, so a retried recordDecision activity writes nothing twice.
CREATE UNIQUE INDEX decisions_cycle_segment ON decisions (cycle_id, segment, strategy) WHERE cycle_id IS NOT NULL;

-- Down Migration
DROP TABLE decisions;
DROP TRIGGER routing_configs_no_update ON routing_configs;
DROP FUNCTION routing_configs_immutable();
DROP TABLE routing_configs;
DROP TABLE arms;
DROP TABLE segments;
DROP TABLE targets;
