-- Up Migration

-- Feedback and evals a shard holds while waiting for their `llm.request` (it may arrive later, within
-- the allowed lateness). A shard's commit that moves its offset past such an event writes it here in the
-- same transaction, and the commit in which it joins its request (or falls back to the unassigned arm)
-- deletes it; a shard that claims its checkpoint loads them back. So a crash never loses one whose offset
-- is committed, and never counts one twice.
CREATE TABLE ingest_pending_joins (
  shard      text   NOT NULL,
  event_id   text   NOT NULL,
  request_id text   NOT NULL,
  -- Event time, epoch ms (exactly the shard's event time, no rounding).
  event_ts   bigint NOT NULL,
  "offset"   bigint NOT NULL,
  payload    jsonb  NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (shard, event_id)
);

-- Down Migration
DROP TABLE ingest_pending_joins;
