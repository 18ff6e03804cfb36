-- Up Migration
-- The review state of a quarantined validation record, set by DlqReviewWorkflow (workflows/) when a review is
-- decided or expires; the review lifecycle itself is the quarantine_reviews table (1764160000003). These columns used
-- to be added by a workflows migration; this table's schema is the pipeline's alone, so they are declared here (IF
-- NOT EXISTS: a database where the workflows migration already added them is left as it is).
ALTER TABLE validation_quarantine
  ADD COLUMN IF NOT EXISTS reviewed boolean NOT NULL DEFAULT false,
  ADD COLUMN IF NOT EXISTS reviewed_at timestamptz,
  ADD COLUMN IF NOT EXISTS reviewed_by text,
  ADD COLUMN IF NOT EXISTS resolution text,
  ADD COLUMN IF NOT EXISTS review_workflow_id text;

-- Down Migration
ALTER TABLE validation_quarantine
  DROP COLUMN IF EXISTS review_workflow_id,
  DROP COLUMN IF EXISTS resolution,
  DROP COLUMN IF EXISTS reviewed_by,
  DROP COLUMN IF EXISTS reviewed_at,
  DROP COLUMN IF EXISTS reviewed;
