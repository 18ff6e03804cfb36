-- Up Migration
-- Grouped DLQ review (issue 13): reviews are registered by DlqReviewGroupWorkflows (one per group of DLQ records, on
-- the dlq-review task queue) and decided by DlqDecisionWorkflows, so one quarantine_reviews row is keyed by its review
-- key (the record's raw-topic coordinates, the id of a legacy per-record DlqReviewWorkflow) while workflow_id names
-- the workflow that registered it (a group's is shared by its rows). A pending review expires at expires_at (the
-- review worker's sweep); legacy rows keep expiring through their own workflow.

ALTER TABLE quarantine_reviews ADD COLUMN review_key text;
UPDATE quarantine_reviews SET review_key = workflow_id WHERE review_key IS NULL;
ALTER TABLE quarantine_reviews ALTER COLUMN review_key SET NOT NULL;
ALTER TABLE quarantine_reviews ADD CONSTRAINT quarantine_reviews_review_key_key UNIQUE (review_key);
ALTER TABLE quarantine_reviews DROP CONSTRAINT quarantine_reviews_workflow_id_key;
CREATE INDEX quarantine_reviews_workflow_id_idx ON quarantine_reviews (workflow_id);
ALTER TABLE quarantine_reviews ADD COLUMN expires_at timestamptz;
CREATE INDEX quarantine_reviews_expiry_idx ON quarantine_reviews (expires_at) WHERE status = 'pending';

-- Down Migration
DROP INDEX quarantine_reviews_expiry_idx;
ALTER TABLE quarantine_reviews DROP COLUMN expires_at;
DROP INDEX quarantine_reviews_workflow_id_idx;
ALTER TABLE quarantine_reviews DROP CONSTRAINT quarantine_reviews_review_key_key;
ALTER TABLE quarantine_reviews ADD CONSTRAINT quarantine_reviews_workflow_id_key UNIQUE (workflow_id);
ALTER TABLE quarantine_reviews DROP COLUMN review_key;
