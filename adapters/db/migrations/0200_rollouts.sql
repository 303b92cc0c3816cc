-- Up Migration

-- One row per canary rollout (workflow canaryRollout, id rollout-<target>-<decision id>): the read model
-- the API lists and the database's half of "one change at a time per target and segment".
CREATE TABLE rollouts (
  id            text PRIMARY KEY,
  decision_id   text NOT NULL,
  target        text NOT NULL REFERENCES targets (name) ON DELETE CASCADE,
  segment       text NOT NULL,
  strategy      text NOT NULL DEFAULT '',
  canary_arm    text NOT NULL,
  baseline_arm  text NOT NULL,
  state         text NOT NULL CHECK (state IN ('pending', 'progressing', 'paused', 'awaiting_approval',
                                               'promoted', 'rolled_back', 'aborted', 'failed')),
  stages        jsonb NOT NULL,
  current_stage integer NOT NULL DEFAULT 0,
  weights       jsonb,
  verdicts      jsonb NOT NULL DEFAULT '[]'::jsonb,
  from_version  integer NOT NULL,
  to_version    integer,
  reason        text NOT NULL DEFAULT '',
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz
);

-- The workflow id policy refuses a second run for the same decision; this refuses a second active
-- rollout for the same target and segment whatever its decision, even if two cycles race.
CREATE UNIQUE INDEX rollouts_one_active ON rollouts (target, segment)
  WHERE state IN ('pending', 'progressing', 'paused', 'awaiting_approval');
CREATE INDEX rollouts_target_created ON rollouts (target, created_at DESC);
CREATE INDEX rollouts_state ON rollouts (state);

-- Down Migration
DROP TABLE rollouts;
