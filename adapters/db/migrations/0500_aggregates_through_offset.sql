-- Up Migration

-- The shard offset each row's state reflects (the checkpoint committed with it). The open windows are
-- also held hot in Redis with the offset of their snapshot; a reader takes, per window and shard, the
-- copy with the larger offset, so no window is counted twice and the fresher state wins.
ALTER TABLE window_aggregates ADD COLUMN through_offset bigint NOT NULL DEFAULT 0;

-- Down Migration
ALTER TABLE window_aggregates DROP COLUMN through_offset;
