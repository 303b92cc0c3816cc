-- Up Migration

-- What each cycle's analyzers found (insights, recommendations, alerts with their evidence), so that
-- GET /v1/targets/{target}/analysis can show why the cycle decided what it did.
CREATE TABLE analysis_reports (
  cycle_id   text PRIMARY KEY,
  target     text NOT NULL REFERENCES targets (name) ON DELETE CASCADE,
  segments   text[] NOT NULL,
  window_from timestamptz NOT NULL,
  window_to   timestamptz NOT NULL,
  report     jsonb NOT NULL,
  candidates jsonb NOT NULL DEFAULT '[]'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX analysis_reports_target_time ON analysis_reports (target, created_at DESC);

-- Down Migration
DROP TABLE analysis_reports;
