-- Up Migration

-- Nothing ever wrote or read lock_fences: the windows a lock guards are fenced by their shard's epoch
-- in the same transaction as the write (pipeline/adapters/store.ts), not by a token row.
DROP TABLE IF EXISTS lock_fences;

-- Down Migration
CREATE TABLE lock_fences (
  name       text PRIMARY KEY,
  token      bigint NOT NULL CHECK (token > 0),
  updated_at timestamptz NOT NULL DEFAULT now()
);
