-- Up Migration

-- API keys: only a SHA-256 digest of the secret is stored. The secret is 256 random bits, so a slow
-- password hash would add latency to every request without adding resistance to guessing.
CREATE TABLE api_keys (
  id           uuid PRIMARY KEY,
  -- Public, unique lookup handle embedded in the key ("llmo_<prefix>_<secret>").
  prefix       text NOT NULL UNIQUE CHECK (prefix ~ '^[a-z0-9]{12}$'),
  secret_hash  bytea NOT NULL,
  name         text NOT NULL,
  roles        text[] NOT NULL CHECK (cardinality(roles) > 0),
  created_by   text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz,
  last_used_at timestamptz,
  revoked_at   timestamptz
);

-- Every change made through the API, with who, what and when. Append-only like routing configs.
CREATE TABLE audit_log (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  actor       text NOT NULL,
  actor_kind  text NOT NULL CHECK (actor_kind IN ('api_key', 'jwt', 'anonymous', 'system')),
  roles       text[] NOT NULL DEFAULT '{}',
  action      text NOT NULL,
  resource    text NOT NULL,
  outcome     text NOT NULL CHECK (outcome IN ('success', 'denied', 'failed')),
  status      integer NOT NULL,
  request_id  text,
  details     jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX audit_log_actor ON audit_log (actor, id DESC);
CREATE INDEX audit_log_resource ON audit_log (resource text_pattern_ops, id DESC);

CREATE FUNCTION audit_log_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END;
$$;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_immutable();

-- Idempotency-Key records: the first response to a POST that starts work, replayed on a repeat.
CREATE TABLE idempotency_keys (
  identity     text NOT NULL,
  key          text NOT NULL,
  method       text NOT NULL,
  path         text NOT NULL,
  fingerprint  text NOT NULL,
  status       integer,
  headers      jsonb,
  body         text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  PRIMARY KEY (identity, key)
);

CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Down Migration
DROP TABLE idempotency_keys;
DROP TRIGGER audit_log_no_update ON audit_log;
DROP FUNCTION audit_log_immutable();
DROP TABLE audit_log;
DROP TABLE api_keys;
