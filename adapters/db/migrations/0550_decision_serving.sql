-- Up Migration

-- Exploration re-spreads (a segment's exploration share moved while its primary arm stays) are their own
-- decision kind, not a model switch.
ALTER TABLE decisions DROP CONSTRAINT decisions_kind_check;
ALTER TABLE decisions ADD CONSTRAINT decisions_kind_check
  CHECK (kind IN ('model_switch', 'exploration', 'prompt_variant', 'rate_limit', 'batching',
                  'cost_reduction', 'rollback', 'no_action'));

-- The arm-level serving change of a rate_limit or batching decision: {"arm","field","from","to"}.
ALTER TABLE decisions ADD COLUMN serving_change jsonb;

-- Serving-policy overrides a routing-config version carries, per arm: {"<arm>": {"max_concurrency": 12}}.
-- Versions are append-only, so a new version carries the previous one's overrides forward.
ALTER TABLE routing_configs ADD COLUMN serving jsonb NOT NULL DEFAULT '{}'::jsonb;

-- Down Migration
ALTER TABLE routing_configs DROP COLUMN serving;
ALTER TABLE decisions DROP COLUMN serving_change;
UPDATE decisions SET kind = 'model_switch' WHERE kind = 'exploration';
ALTER TABLE decisions DROP CONSTRAINT decisions_kind_check;
ALTER TABLE decisions ADD CONSTRAINT decisions_kind_check
  CHECK (kind IN ('model_switch', 'prompt_variant', 'rate_limit', 'batching', 'cost_reduction', 'rollback',
                  'no_action'));
