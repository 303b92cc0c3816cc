-- Up Migration

-- The highest fencing token each distributed lock has presented to the database (adapters/lock.ts). A
-- write guarded by a lock first raises its row here inside the same transaction; a holder whose lease
-- expired (a long pause) presents an older token and is refused, so its late writes never land.
CREATE TABLE lock_fences (
  name       text PRIMARY KEY,
  token      bigint NOT NULL CHECK (token > 0),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE lock_fences;
