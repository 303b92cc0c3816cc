-- Up Migration

-- Outbox sweeper: when the notify run of an event was started. A process that dies between storing an
-- event and starting its run leaves this NULL, and the sweeper starts the run (idempotent workflow id).
ALTER TABLE domain_events ADD COLUMN notify_started_at timestamptz;
-- Events stored before this column existed were handed to the notification layer when published.
UPDATE domain_events SET notify_started_at = created_at;
CREATE INDEX domain_events_unnotified ON domain_events (created_at) WHERE notify_started_at IS NULL;

-- Requests sampled for the LLM judge: prompt and answer text as the application submitted them
-- (POST /v1/events/judge-samples), kept until judged and then for the retention period.
CREATE TABLE judge_samples (
  request_id     text PRIMARY KEY,
  target         text NOT NULL,
  segment        text NOT NULL DEFAULT 'default',
  arm            text,
  config_version integer,
  input          text NOT NULL,
  output         text NOT NULL,
  submitted_at   timestamptz NOT NULL DEFAULT now(),
  -- A judge run leases a batch; a run that dies leaves the lease to expire and the batch is taken again.
  leased_until   timestamptz,
  judged_at      timestamptz,
  score          double precision,
  -- 'scored' | 'unparseable'
  outcome        text,
  model          text,
  input_tokens   integer,
  output_tokens  integer,
  cost_usd       double precision
);
CREATE INDEX judge_samples_pending ON judge_samples (submitted_at) WHERE judged_at IS NULL;
CREATE INDEX judge_samples_judged ON judge_samples (judged_at) WHERE judged_at IS NOT NULL;

-- Prompt variants Claude drafted from an experiment's winner; they wait for a person to approve them
-- as new arms of the target.
CREATE TABLE prompt_proposals (
  id              text PRIMARY KEY,
  target          text NOT NULL,
  segment         text NOT NULL,
  base_arm        text NOT NULL,
  cycle_id        text NOT NULL,
  decision_id     text,
  reason          text NOT NULL,
  base_template   text NOT NULL,
  variants        jsonb NOT NULL,
  status          text NOT NULL DEFAULT 'proposed' CHECK (status IN ('proposed', 'approved', 'rejected')),
  model           text NOT NULL,
  input_tokens    integer NOT NULL,
  output_tokens   integer NOT NULL,
  cost_usd        double precision NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);
-- One proposal per base arm and cycle, so a retried activity stores nothing twice.
CREATE UNIQUE INDEX prompt_proposals_once ON prompt_proposals (cycle_id, segment, base_arm);
CREATE INDEX prompt_proposals_open ON prompt_proposals (target, segment, base_arm) WHERE status = 'proposed';

-- Down Migration
DROP TABLE prompt_proposals;
DROP TABLE judge_samples;
DROP INDEX domain_events_unnotified;
ALTER TABLE domain_events DROP COLUMN notify_started_at;
