-- Up Migration
-- Drift reports of the served models (ml/, `npm run drift`), for dashboards and alerts: one row per model version
-- and window in drift_reports, one row per feature (and one for the score, kind 'score') in drift_features.
-- A re-run of the same window replaces its report (one transaction), so a window has at most one report per version.

CREATE SCHEMA IF NOT EXISTS ml;

CREATE TABLE ml.drift_reports (
  id                   bigserial        PRIMARY KEY,
  model                text             NOT NULL CHECK (model IN ('fraud', 'churn')),
  registered_name      text             NOT NULL,
  model_version        integer          NOT NULL,
  feature_spec_version text             NOT NULL,
  window_from          timestamptz      NOT NULL,
  window_to            timestamptz      NOT NULL,
  reference_from       timestamptz      NOT NULL,
  reference_to         timestamptz      NOT NULL,
  reference_rows       integer          NOT NULL,
  window_rows          integer          NOT NULL,
  rows_compared        integer          NOT NULL,
  status               text             NOT NULL CHECK (status IN ('ok', 'warn', 'alert', 'insufficient_data')),
  max_feature_psi      double precision NOT NULL,
  score_psi            double precision NOT NULL,
  psi_warn             double precision NOT NULL,
  psi_alert            double precision NOT NULL,
  drifted              text[]           NOT NULL DEFAULT '{}',
  created_at           timestamptz      NOT NULL DEFAULT now(),
  CHECK (window_from < window_to),
  UNIQUE (registered_name, model_version, window_from, window_to)
);
CREATE INDEX drift_reports_model_window_idx ON ml.drift_reports (model, window_to DESC);

CREATE TABLE ml.drift_features (
  report_id      bigint           NOT NULL REFERENCES ml.drift_reports (id) ON DELETE CASCADE,
  feature        text             NOT NULL,
  kind           text             NOT NULL CHECK (kind IN ('feature', 'score')),
  psi            double precision NOT NULL,
  level          text             NOT NULL CHECK (level IN ('ok', 'warn', 'alert')),
  reference_mean double precision,
  recent_mean    double precision,
  PRIMARY KEY (report_id, feature)
);

-- Down Migration
DROP TABLE ml.drift_features;
DROP TABLE ml.drift_reports;
