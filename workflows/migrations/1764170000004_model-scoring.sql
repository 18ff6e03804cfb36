-- Up Migration
-- How each score was made (ml issue #18): the feature spec version the models read, and per model whether a model
-- or the rules-v1 fallback answered, with which features (online / stale / unavailable) and why it fell back.
-- fraud_model_version / churn_model_version already hold `fraud@<version>` or `rules-v1`.

ALTER TABLE payment_events
  ADD COLUMN feature_spec_version text,
  ADD COLUMN fraud_scoring        jsonb,
  ADD COLUMN churn_scoring        jsonb;

-- Down Migration
ALTER TABLE payment_events
  DROP COLUMN feature_spec_version,
  DROP COLUMN fraud_scoring,
  DROP COLUMN churn_scoring;
