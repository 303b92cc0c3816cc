-- Up Migration

-- Base event-time windows (tumbling, INGEST_WINDOW_MS wide) per target, segment and arm. Each ingest
-- shard (a WAL or a Kafka partition) owns its own row of a window and rewrites it whole with the state
-- as of the offset stored beside it in the same transaction, so a replay after a crash rewrites the
-- same row instead of adding twice. Readers merge the shards' rows (counts add, sketches merge).
CREATE TABLE window_aggregates (
  target         text NOT NULL,
  segment        text NOT NULL,
  arm            text NOT NULL,
  window_start   timestamptz NOT NULL,
  window_end     timestamptz NOT NULL,
  shard          text NOT NULL,
  count          bigint NOT NULL DEFAULT 0,
  ok             bigint NOT NULL DEFAULT 0,
  errors         jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- Sums kept as integers (microseconds, nano-dollars) so shard merges and replays are exact.
  latency_sum_us bigint NOT NULL DEFAULT 0,
  latency_sketch text,
  ttft_sketch    text,
  input_tokens   bigint NOT NULL DEFAULT 0,
  output_tokens  bigint NOT NULL DEFAULT 0,
  cost_nusd      bigint NOT NULL DEFAULT 0,
  cache_hits     bigint NOT NULL DEFAULT 0,
  quality_count  bigint NOT NULL DEFAULT 0,
  quality_mean   double precision NOT NULL DEFAULT 0,
  quality_m2     double precision NOT NULL DEFAULT 0,
  feedback       jsonb NOT NULL DEFAULT '{}'::jsonb,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (target, segment, arm, window_start, window_end, shard),
  CHECK (window_end > window_start)
);
CREATE INDEX window_aggregates_target_time ON window_aggregates (target, window_start);
CREATE INDEX window_aggregates_shard_end ON window_aggregates (shard, window_end);

-- Where each shard's consumer stands: the next offset to read, its watermark, and an epoch that fences
-- a stale owner (a consumer that lost its partition in a rebalance cannot overwrite the new owner).
CREATE TABLE ingest_checkpoints (
  shard          text PRIMARY KEY,
  next_offset    bigint NOT NULL DEFAULT 0,
  watermark      timestamptz,
  epoch          bigint NOT NULL DEFAULT 0,
  events         bigint NOT NULL DEFAULT 0,
  duplicates     bigint NOT NULL DEFAULT 0,
  too_late       bigint NOT NULL DEFAULT 0,
  updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Events that could not be processed in embedded mode (with Kafka they go to the dead-letter topic).
CREATE TABLE ingest_dead_letters (
  shard      text NOT NULL,
  "offset"   bigint NOT NULL,
  event_id   text,
  reason     text NOT NULL,
  payload    jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (shard, "offset")
);

-- Versioned price table: a change is a new version of a model's price, never an update in place.
CREATE TABLE model_prices (
  model                 text NOT NULL,
  version               integer NOT NULL CHECK (version > 0),
  provider              text,
  input_usd_per_mtok    double precision NOT NULL CHECK (input_usd_per_mtok >= 0),
  output_usd_per_mtok   double precision NOT NULL CHECK (output_usd_per_mtok >= 0),
  effective_from        timestamptz NOT NULL DEFAULT now(),
  created_at            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (model, version)
);

-- Down Migration
DROP TABLE model_prices;
DROP TABLE ingest_dead_letters;
DROP TABLE ingest_checkpoints;
DROP TABLE window_aggregates;
