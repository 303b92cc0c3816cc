-- Up Migration

-- Ingest dead letters become listable and replayable through the API (GET /v1/ingest/dead-letters).
-- `raw` holds the payload exactly as it arrived (the event's JSON text, or a Kafka message's bytes):
-- bytea stores anything, including what made the dead letter (NUL, lone surrogates, invalid UTF-8),
-- which jsonb cannot. `payload` keeps the parsed event when jsonb can hold it, for SQL queries; rows
-- written before this migration (or by a process not yet upgraded) have only `payload`.
-- `reason_code` is the reason's leading word (too_late, invalid_json, invalid_event, unstorable), a
-- small fixed set to filter on; `replayed_at` is set once a replay was accepted by the front door.
ALTER TABLE ingest_dead_letters
  ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY,
  ADD COLUMN reason_code text GENERATED ALWAYS AS (split_part(reason, ':', 1)) STORED,
  ADD COLUMN raw bytea,
  ADD COLUMN replayed_at timestamptz;
CREATE UNIQUE INDEX ingest_dead_letters_id ON ingest_dead_letters (id);
CREATE INDEX ingest_dead_letters_reason ON ingest_dead_letters (reason_code, id);

-- Down Migration
DROP INDEX ingest_dead_letters_reason;
DROP INDEX ingest_dead_letters_id;
ALTER TABLE ingest_dead_letters DROP COLUMN replayed_at, DROP COLUMN raw, DROP COLUMN reason_code,
  DROP COLUMN id;
